"""Instruction decode derived from `kiln.hw.isa`: field views and legality checks.

Every field slice here comes from ``kiln.hw.isa.FORMATS``; this module holds
no bit offset or width of its own.
"""

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..config import INSTRUCTION_BITS
from ..isa import FORMATS, MEMORIES, OPCODE_FIELD, TOKEN_FIELDS, Opcode, Queue


def instruction_layout(opcode: Opcode) -> data.FlexibleLayout:
    """Return the 128-bit layout of ``opcode``: opcode, token flags and every field by name."""
    fields = {}
    for f in (OPCODE_FIELD, *TOKEN_FIELDS, *FORMATS[opcode].fields):
        shape = signed(f.width) if f.signed else unsigned(f.width)
        fields[f.name] = data.Field(shape, f.offset)
    return data.FlexibleLayout(INSTRUCTION_BITS, fields)


def instruction_view(opcode: Opcode, word) -> data.View:
    """Return ``word`` (a 128-bit value) viewed with the fields of ``opcode``."""
    return data.View(instruction_layout(opcode), word)


def element_bytes(m, transfer: data.View, config) -> Signal:
    """Return the DRAM bytes of one element of a LOAD or STORE view ``transfer``: its
    ``lanes`` (0 means ``dim``) int8 bytes, or four per lane for the accumulator."""
    lanes = Signal(range(config.dim + 1))
    m.d.comb += lanes.eq(Mux(transfer.lanes == 0, config.dim, transfer.lanes))
    size = Signal(range(config.acc_row_bytes + 1))
    m.d.comb += size.eq(Mux(transfer.mem == MEMORIES.index("acc"), lanes * 4, lanes))
    return size


def reserved_mask(opcode: Opcode) -> int:
    """Return the bits of ``opcode``'s instructions that no field covers, or token flags
    the opcode may not set; the decoder rejects a word with any of them set."""
    fmt = FORMATS[opcode]
    used = OPCODE_FIELD.mask
    for f in (*TOKEN_FIELDS, *fmt.fields):
        if f in fmt.fields or f.name in fmt.tokens:
            used |= f.mask
    return ((1 << INSTRUCTION_BITS) - 1) & ~used


def queue_bits(queue: Queue) -> tuple[tuple[int, int], ...]:
    """Return the (offset, width) runs of the instruction bits an instruction of ``queue``
    can set: the fields and token flags of its opcodes, and the opcode when the queue
    takes more than one (the rest are 0 in every legal instruction, or unread). A
    compact VPU holds only these bits in the queue."""
    formats = [fmt for fmt in FORMATS.values() if fmt.queue is queue]
    used = OPCODE_FIELD.mask if len(formats) > 1 else 0
    for fmt in formats:
        for f in (*TOKEN_FIELDS, *fmt.fields):
            if f in fmt.fields or f.name in fmt.tokens:
                used |= f.mask
    runs = []
    for bit in range(INSTRUCTION_BITS):
        if not used >> bit & 1:
            continue
        if runs and sum(runs[-1]) == bit:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((bit, 1))
    return tuple(runs)


QUEUE_CODES = {Queue.LOAD: 0, Queue.COMPUTE: 1, Queue.STORE: 2, Queue.NONE: 3}
"""The 2-bit queue number the decoder reports for each `Queue`."""


class InstructionDecoder(wiring.Component):
    """Classify one instruction word: its queue, FINISH, and whether it is legal.

    Combinational. An instruction is illegal when its opcode is not in
    ``kiln.hw.isa.Opcode``, when a reserved bit is set, or when it sets a token
    flag its queue has no neighbour for.

    Ports:
        instruction (In, 128): the word as fetched (bit 0 = LSB of byte 0).
        queue (Out, 2): 0 load, 1 compute, 2 store, 3 none (FINISH); see QUEUE_CODES.
        finish (Out, 1): the word is FINISH.
        illegal (Out, 1): the word is not a legal instruction.
    """

    instruction: In(INSTRUCTION_BITS)
    queue: Out(2)
    finish: Out(1)
    illegal: Out(1)

    def elaborate(self, platform):
        m = Module()
        opcode = Signal(OPCODE_FIELD.width)
        m.d.comb += opcode.eq(self.instruction[OPCODE_FIELD.offset:
                                               OPCODE_FIELD.offset + OPCODE_FIELD.width])
        m.d.comb += self.illegal.eq(1)
        with m.Switch(opcode):
            for op, fmt in FORMATS.items():
                with m.Case(int(op)):
                    m.d.comb += [
                        self.queue.eq(QUEUE_CODES[fmt.queue]),
                        self.finish.eq(op == Opcode.FINISH),
                        self.illegal.eq((self.instruction & reserved_mask(op)) != 0),
                    ]
        return m
