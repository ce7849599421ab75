"""Instruction fetch: stream fixed-width instructions from DRAM in program order."""

from amaranth import Cat, Module, Signal
from amaranth.lib import fifo, wiring
from amaranth.lib.wiring import In, Out

from ..config import DRAM_ADDRESS_BITS, INSTRUCTION_BITS, INSTRUCTION_BYTES
from .load_engine import BeatBuffer
from .ports import DramPort


class InstructionFetch(wiring.Component):
    """Read ``count`` instructions of 16 bytes from DRAM at ``base`` and stream them out.

    Reads are pipelined: up to ``buffer_depth`` beats are in flight or buffered,
    so after the DRAM latency one beat arrives per cycle. A bus narrower than an
    instruction takes several beats per instruction; a wider one selects the
    instruction's bytes from its beat.

    With ``compact`` the beats are buffered in block RAM (`BeatBuffer`: one cycle
    more from a response to its instruction) and, for a bus no wider than an
    instruction, without the FIFO of lane numbers. One down-counter of the
    instructions not yet requested replaces the beat and instruction counts:
    ``busy`` is high while it is not 0, beats are in flight or buffered, or an
    instruction is held.

    Ports:
        start (In, 1): pulse; latch ``base`` and ``count`` and begin fetching.
        base (In, 32): DRAM byte address of instruction 0; a multiple of 16.
        count (In, 32): number of instructions to fetch.
        instruction (Out, 128): the next instruction, little endian as in DRAM.
        index (Out, 32): its position in the program (0-based).
        valid (Out, 1): ``instruction`` is valid.
        ready (In, 1): the consumer takes ``instruction`` at this edge.
        busy (Out, 1): instructions remain to be handed out.
        stop (In, 1): fetch nothing more (FINISH was seen); beats still in flight are
            discarded as they arrive.
        draining (Out, 1): reads are in flight or buffered; do not ``start`` while high.
        dram (Out DramPort): read requests towards DRAM.
    """

    def __init__(self, bus_bytes: int, buffer_depth: int = 32, compact: bool = False):
        self.bus_bytes = bus_bytes
        self.compact = compact
        self.beats = max(1, INSTRUCTION_BYTES // bus_bytes)
        self.buffer_depth = max(buffer_depth, self.beats)
        super().__init__({
            "start": In(1),
            "base": In(DRAM_ADDRESS_BITS),
            "count": In(32),
            "instruction": Out(INSTRUCTION_BITS),
            "index": Out(32),
            "valid": Out(1),
            "ready": In(1),
            "busy": Out(1),
            "stop": In(1),
            "draining": Out(1),
            "dram": Out(DramPort(bus_bytes)),
        })

    def elaborate(self, platform):
        m = Module()
        bus_bits = 8 * self.bus_bytes
        wide = self.bus_bytes > INSTRUCTION_BYTES
        lane_bits = (self.bus_bytes // INSTRUCTION_BYTES - 1).bit_length() if wide else 0
        if self.compact:
            m.submodules.beats = beats = BeatBuffer(bus_bits, self.buffer_depth)
        else:
            m.submodules.beats = beats = fifo.SyncFIFO(
                width=bus_bits + lane_bits, depth=self.buffer_depth)
        # The lane of a wide beat that holds each instruction requested, in order.
        lanes = None
        if wide or not self.compact:
            m.submodules.lanes = lanes = fifo.SyncFIFO(
                width=max(lane_bits, 1), depth=self.buffer_depth)

        address = Signal(DRAM_ADDRESS_BITS)
        if self.compact:
            stopped = Signal()
            remaining = Signal(32)  # instructions whose beats are not all requested
            part = Signal(range(self.beats))  # beats of the next one already requested
            more = ~stopped & (remaining != 0)
        else:
            beats_left = Signal(32 + 3)   # beats still to request
            instructions_left = Signal(32)  # instructions still to hand out
            more = beats_left != 0
        # free buffer slots not yet promised
        credits = Signal(range(self.buffer_depth + 1), init=self.buffer_depth)
        index = Signal(32)

        request = self.dram.req_valid & self.dram.req_ready
        can_request = more & (credits != 0)
        m.d.comb += [
            self.dram.req_valid.eq(can_request if lanes is None else can_request & lanes.w_rdy),
            self.dram.req_addr.eq(address & ~(self.bus_bytes - 1)),
            self.dram.req_we.eq(0),
        ]
        if lanes is not None:
            m.d.comb += [lanes.w_en.eq(request),
                         lanes.w_data.eq(address[4:4 + lane_bits] if wide else 0)]
        m.d.comb += [beats.w_en.eq(self.dram.resp_valid), beats.w_data.eq(self.dram.resp_rdata)]

        # Assemble instructions from beats.
        collected = Signal(range(self.beats + 1))
        word = Signal(INSTRUCTION_BITS)
        have_word = Signal()
        pop = Signal()
        available = beats.r_rdy if lanes is None else beats.r_rdy & lanes.r_rdy
        m.d.comb += [
            self.instruction.eq(word),
            self.valid.eq(have_word),
            self.index.eq(index),
            self.busy.eq(~stopped & (more | (credits != self.buffer_depth) | have_word)
                         if self.compact else instructions_left != 0),
            pop.eq(available & (~have_word | (self.ready & (self.beats == 1)))),
            beats.r_en.eq(pop),
        ]
        if lanes is not None:
            m.d.comb += lanes.r_en.eq(pop)
        taken = self.valid & self.ready
        with m.If(taken):
            m.d.sync += [have_word.eq(0), index.eq(index + 1)]
            if not self.compact:
                with m.If(instructions_left != 0):
                    m.d.sync += instructions_left.eq(instructions_left - 1)
        m.d.comb += self.draining.eq((credits != self.buffer_depth) | have_word)
        if self.beats == 1:
            if wide:
                chunks = [beats.r_data[i * INSTRUCTION_BITS:(i + 1) * INSTRUCTION_BITS]
                          for i in range(self.bus_bytes // INSTRUCTION_BYTES)]
                selected = Signal(INSTRUCTION_BITS)
                with m.Switch(lanes.r_data):
                    for i, chunk in enumerate(chunks):
                        with m.Case(i):
                            m.d.comb += selected.eq(chunk)
            else:
                selected = beats.r_data[:INSTRUCTION_BITS]
            with m.If(pop):
                m.d.sync += [word.eq(selected), have_word.eq(1)]
        else:
            with m.If(pop):
                m.d.sync += word.eq(Cat(word[bus_bits:], beats.r_data))
                with m.If(collected == self.beats - 1):
                    m.d.sync += [collected.eq(0), have_word.eq(1)]
                with m.Else():
                    m.d.sync += collected.eq(collected + 1)

        # Credits: a slot is promised when requested and freed when popped.
        with m.If(request & ~pop):
            m.d.sync += credits.eq(credits - 1)
        with m.Elif(pop & ~request):
            m.d.sync += credits.eq(credits + 1)
        if self.compact:
            with m.If(request):
                m.d.sync += address.eq(address + min(self.bus_bytes, INSTRUCTION_BYTES))
                with m.If(part == self.beats - 1):
                    m.d.sync += [part.eq(0), remaining.eq(remaining - 1)]
                with m.Else():
                    m.d.sync += part.eq(part + 1)
            with m.If(self.stop):
                m.d.sync += stopped.eq(1)
            with m.If(self.start):
                m.d.sync += [address.eq(self.base), remaining.eq(self.count), stopped.eq(0),
                             part.eq(0), index.eq(0), collected.eq(0), have_word.eq(0)]
            return m
        with m.If(request):
            m.d.sync += [beats_left.eq(beats_left - 1),
                         address.eq(address + min(self.bus_bytes, INSTRUCTION_BYTES))]

        with m.If(self.stop):
            m.d.sync += [beats_left.eq(0), instructions_left.eq(0)]
        with m.If(self.start):
            m.d.sync += [
                address.eq(self.base),
                beats_left.eq(self.count * self.beats),
                instructions_left.eq(self.count),
                index.eq(0),
                collected.eq(0),
                have_word.eq(0),
            ]
        return m
