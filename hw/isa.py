"""The VPU instruction set, defined once: opcodes, field layouts, semantics, encodings.

Every instruction is 128 bits, stored little endian in DRAM (bit 0 of an
instruction is bit 0 of its first byte); instruction ``i`` of a program lives at
``program_address + 16 * i``. Bits ``[0:4)`` hold the opcode and bits ``[4:8)``
the four dependency-token flags; the remaining fields of each instruction are
listed in `FORMATS` as data (name, bit offset, width, signedness), and the
encoder, decoder, assembler, disassembler, simulator, RTL decoder and
``docs/isa.md`` all derive from that table. Bits no field covers are reserved:
the encoder writes zeros and the decoder rejects non-zero reserved bits.

Machine model (see docs/isa.md for the timing contract):

* Scratchpad: ``sp_depth`` rows of ``dim`` int8. Accumulator: ``acc_depth`` rows of
  ``dim`` int32. On-chip addresses count rows. DRAM is byte addressed; int32
  values are little endian there.
* A fetch unit reads instructions in order and dispatches each into one of three
  queues by opcode: LOAD -> load queue; GEMM and the vector instructions (VADD,
  VCLIP, VREQ, VPOOL) -> compute queue; STORE -> store queue. Each queue has its
  own engine executing its instructions in order; the three run concurrently.
* Dependency tokens (as in VTA): four token FIFOs connect neighbouring queues,
  load->compute, compute->load, compute->store and store->compute. For an
  instruction of queue Q, ``pop_prev`` waits for and removes one token that the
  previous queue (load for compute, compute for store) pushed to Q; ``pop_next``
  does the same for a token from the next queue (compute for load, store for
  compute); ``push_prev`` / ``push_next`` push one token from Q to the previous /
  next queue when the instruction completes. Pops happen before the instruction
  starts; pushes when it completes. LOAD has no previous queue and STORE no
  next queue: their ``*_prev`` / ``*_next`` flags must be 0. FINISH carries no
  flags. A token FIFO holds ``token_queue_depth`` tokens; a push into a full FIFO
  stalls the pushing engine until a pop makes room.
* FINISH ends the program: the fetch unit stops, and the run is done one cycle
  after every queue has drained and every engine is idle. Tokens left in the
  FIFOs at FINISH are discarded.
* Arithmetic: int8 x int8 products are exact (16 bits); accumulator arithmetic
  is 32-bit two's complement and wraps on overflow (what an adder does). Only
  the instructions that say so saturate (VREQ, and VPOOL writing the scratchpad).
* Within one instruction all operand rows are read before any result row is
  written; an instruction whose written rows overlap the rows it reads in another
  iteration, or that writes one row twice, is illegal (the simulator rejects it).
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from kiln.hw.config import DRAM_ADDRESS_BITS, INSTRUCTION_BITS, INSTRUCTION_BYTES, ROW_ADDRESS_BITS

__all__ = [
    "INSTRUCTION_BITS", "INSTRUCTION_BYTES", "Opcode", "Queue", "Field", "InstructionFormat",
    "FORMATS", "MNEMONICS", "TOKEN_FIELDS", "Instruction", "IsaError", "encode", "decode",
    "encode_program", "decode_program", "assemble", "disassemble", "format_instruction",
    "field_table",
]


class IsaError(ValueError):
    """An instruction that cannot be encoded, decoded or assembled.

    ``index`` is the instruction index (or None), ``line`` the assembler line
    (1-based, or None) and ``field`` the field at fault (or None).
    """

    def __init__(self, message: str, *, field: str | None = None, index: int | None = None,
                 line: int | None = None, opcode: str | None = None):
        where = []
        if line is not None:
            where.append(f"line {line}")
        if index is not None:
            where.append(f"instruction {index}")
        if opcode is not None:
            where.append(opcode)
        if field is not None:
            where.append(f"field '{field}'")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)
        self.field, self.index, self.line, self.opcode = field, index, line, opcode


class Opcode(enum.IntEnum):
    """The 4-bit opcode in bits [0:4). Opcode 0 and 8-14 are illegal."""

    LOAD = 1
    STORE = 2
    GEMM = 3
    VADD = 4
    VCLIP = 5
    VREQ = 6
    VPOOL = 7
    FINISH = 15


class Queue(enum.Enum):
    """The command queue an instruction is dispatched to (FINISH: none)."""

    LOAD = "load"
    COMPUTE = "compute"
    STORE = "store"
    NONE = "none"


@dataclass(frozen=True)
class Field:
    """One instruction field: ``width`` bits from bit ``offset`` (bit 0 = LSB).

    ``signed`` fields are two's complement. ``choices`` names the values of an
    enumerated field (the assembler accepts the names). ``minimum`` is the
    smallest legal value; ``default`` is what the assembler uses when the field is
    omitted. ``doc`` gives the meaning and unit.
    """

    name: str
    offset: int
    width: int
    doc: str
    signed: bool = False
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    default: int = 0

    @functools.cached_property
    def lo(self) -> int:
        """Smallest encodable value."""
        return -(1 << (self.width - 1)) if self.signed else 0

    @functools.cached_property
    def hi(self) -> int:
        """Largest encodable value."""
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    @functools.cached_property
    def mask(self) -> int:
        """The field's bits within the 128-bit instruction word."""
        return ((1 << self.width) - 1) << self.offset


OPCODE_FIELD = Field("opcode", 0, 4, "operation code (Opcode)")
TOKEN_FIELDS = (
    Field("pop_prev", 4, 1, "wait for and remove a token from the previous queue before start"),
    Field("pop_next", 5, 1, "wait for and remove a token from the next queue before start"),
    Field("push_prev", 6, 1, "push a token to the previous queue on completion"),
    Field("push_next", 7, 1, "push a token to the next queue on completion"),
)
MEMORIES = ("sp", "acc")
POOL_MODES = ("max", "sum")


@dataclass(frozen=True)
class InstructionFormat:
    """The layout and meaning of one instruction.

    ``fields`` excludes the opcode and token flags; ``tokens`` names the token
    flags this instruction may set (the others must be 0).
    """

    opcode: Opcode
    queue: Queue
    tokens: tuple[str, ...]
    fields: tuple[Field, ...]
    doc: str

    @property
    def mnemonic(self) -> str:
        """The assembler name (the opcode's name)."""
        return self.opcode.name

    def field(self, name: str) -> Field:
        """Return the field called ``name`` (token flags included)."""
        for f in (*TOKEN_FIELDS, *self.fields):
            if f.name == name:
                return f
        raise IsaError(f"{self.mnemonic} has no field '{name}'", field=name)


def _row(name: str, offset: int, doc: str) -> Field:
    return Field(name, offset, ROW_ADDRESS_BITS, doc)


def _count(name: str, offset: int, width: int, doc: str) -> Field:
    return Field(name, offset, width, doc, minimum=1, default=1)


_LOAD_FIELDS = (
    Field("mem", 8, 1, "destination memory: sp (int8 rows) or acc (int32 rows)", choices=MEMORIES),
    _row("dst", 9, "first on-chip row written"),
    Field("dram", 25, DRAM_ADDRESS_BITS, "DRAM byte address of element (0, 0)"),
    _count("y_size", 57, 8, "rows of the 2-D block (before padding)"),
    _count("x_size", 65, 8, "elements per row of the block (before padding)"),
    Field("y_stride", 73, 20, "DRAM bytes between the starts of consecutive rows"),
    Field("x_stride", 93, 16, "DRAM bytes between the starts of consecutive elements"),
    Field("lanes", 109, 7, "lanes read per element (1..dim; 0 means dim); the rest are 0"),
    Field("pad_top", 116, 3, "zero rows of (pad_left + x_size + pad_right) elements before"),
    Field("pad_bottom", 119, 3, "zero rows after the block"),
    Field("pad_left", 122, 3, "zero elements before each row"),
    Field("pad_right", 125, 3, "zero elements after each row"),
)

_STORE_FIELDS = (
    Field("mem", 8, 1, "source memory: sp (int8 rows) or acc (int32 rows)", choices=MEMORIES),
    _row("src", 9, "first on-chip row read"),
    Field("dram", 25, DRAM_ADDRESS_BITS, "DRAM byte address of element (0, 0)"),
    _count("y_size", 57, 8, "rows of the 2-D block"),
    _count("x_size", 65, 8, "elements per row of the block"),
    Field("y_stride", 73, 20, "DRAM bytes between the starts of consecutive rows"),
    Field("x_stride", 93, 16, "DRAM bytes between the starts of consecutive elements"),
    Field("lanes", 109, 7, "lanes written per element (1..dim; 0 means dim)"),
)

_GEMM_FIELDS = (
    Field("accumulate", 8, 1, "0: iteration k = 0 overwrites the accumulator rows; 1: all add"),
    _row("acc", 9, "accumulator row of output (o, i) = (0, 0)"),
    _row("inp", 25, "scratchpad row of input (k, o, i) = (0, 0, 0)"),
    _row("wgt", 41, "first scratchpad row of weight tile k = 0 (tile k starts at wgt + k*dim)"),
    _count("k_count", 57, 6, "weight loop extent (weight tiles, reduction steps)"),
    Field("k_inp_inc", 63, 12, "input row increment per weight step k"),
    _count("o_count", 75, 8, "outer row loop extent"),
    Field("o_inp_inc", 83, 12, "input row increment per outer step o"),
    Field("o_acc_inc", 95, 12, "accumulator row increment per outer step o"),
    _count("i_count", 107, 8, "inner row loop extent (accumulator increment is 1)"),
    Field("i_inp_inc", 115, 12, "input row increment per inner step i"),
)

_VADD_FIELDS = (
    Field("src_mem", 8, 1, "source memory: sp (int8, sign-extended) or acc (int32)",
          choices=MEMORIES),
    _row("dst", 9, "first accumulator row (read and written)"),
    _row("src", 25, "first source row"),
    _count("count", 41, 12, "rows"),
    Field("dst_stride", 53, 12, "accumulator row increment per row"),
    Field("src_stride", 65, 12, "source row increment per row (0 broadcasts one row)"),
)

_VCLIP_FIELDS = (
    _row("dst", 8, "first accumulator row (clipped in place)"),
    _count("count", 24, 12, "rows"),
    Field("dst_stride", 36, 12, "accumulator row increment per row"),
    Field("lo", 48, 32, "lower bound (int32)", signed=True),
    Field("hi", 80, 32, "upper bound (int32)", signed=True),
)

_VREQ_FIELDS = (
    _row("src", 8, "first accumulator row read (int32)"),
    _row("dst", 24, "first scratchpad row written (int8)"),
    _row("param", 40, "accumulator row of per-lane multipliers; param+1 holds per-lane shifts"),
    _count("count", 56, 12, "rows"),
    Field("src_stride", 68, 12, "accumulator row increment per row"),
    Field("dst_stride", 80, 12, "scratchpad row increment per row"),
    Field("zero_point", 92, 8, "output zero point added after rounding (int8)", signed=True),
    Field("lo", 100, 8, "lower clamp bound (int8)", signed=True, default=-128),
    Field("hi", 108, 8, "upper clamp bound (int8)", signed=True, default=127),
)

_VPOOL_FIELDS = (
    Field("mode", 8, 1, "max: maximum over the window; sum: wrapping int32 sum", choices=POOL_MODES),
    Field("src_mem", 9, 1, "source memory: sp (int8, sign-extended) or acc (int32)",
          choices=MEMORIES),
    Field("dst_mem", 10, 1, "destination: sp (saturated to int8) or acc (int32)",
          choices=MEMORIES),
    _row("dst", 11, "first destination row"),
    _row("src", 27, "source row of window element (0, 0) of output 0"),
    _count("count", 43, 12, "output rows"),
    Field("dst_stride", 55, 12, "destination row increment per output"),
    Field("src_stride", 67, 12, "source row increment per output"),
    _count("win_h", 79, 4, "window rows"),
    _count("win_w", 83, 4, "window columns"),
    Field("win_stride_h", 87, 12, "source row increment per window row"),
    Field("win_stride_w", 99, 12, "source row increment per window column"),
)

FORMATS: dict[Opcode, InstructionFormat] = {
    Opcode.LOAD: InstructionFormat(Opcode.LOAD, Queue.LOAD, ("pop_next", "push_next"), _LOAD_FIELDS,
        """Copy a 2-D block of elements from DRAM into on-chip rows, with zero padding.

        The padded block has Y = pad_top + y_size + pad_bottom rows of
        X = pad_left + x_size + pad_right elements; element (y, x) goes to on-chip row
        ``dst + y * X + x`` of ``mem``. A padding element is a row of zeros. Element
        (y, x) of the block proper (y, x counted without padding) is read from DRAM at
        ``dram + y * y_stride + x * x_stride``: ``lanes`` int8 bytes (mem = sp) or
        ``lanes`` little-endian int32 words (mem = acc) fill lanes 0..lanes-1 of the
        row; lanes lanes..dim-1 are written 0. Every written row and every DRAM byte
        read must be in range."""),
    Opcode.STORE: InstructionFormat(Opcode.STORE, Queue.STORE, ("pop_prev", "push_prev"),
        _STORE_FIELDS,
        """Copy on-chip rows to a 2-D block in DRAM.

        Element (y, x), for y < y_size and x < x_size, is on-chip row
        ``src + y * x_size + x`` of ``mem``; its lanes 0..lanes-1 are written to DRAM at
        ``dram + y * y_stride + x * x_stride`` as int8 bytes (mem = sp) or little-endian
        int32 words (mem = acc). No byte of DRAM may be written twice by one STORE."""),
    Opcode.GEMM: InstructionFormat(Opcode.GEMM, Queue.COMPUTE, tuple(f.name for f in TOKEN_FIELDS),
        _GEMM_FIELDS,
        """Multiply int8 input rows by int8 weight tiles into int32 accumulator rows.

        For k < k_count, o < o_count, i < i_count (k outermost, i innermost)::

            a = inp + k * k_inp_inc + o * o_inp_inc + i * i_inp_inc   # scratchpad row
            W = sp[wgt + k*dim : wgt + (k+1)*dim]                     # dim x dim, W[c][j]
            r = acc + o * o_acc_inc + i                               # accumulator row
            acc[r][j] = (0 if accumulate == 0 and k == 0 else acc[r][j])
                        + sum_c sp[a][c] * W[c][j]            (mod 2**32, two's complement)

        The weight tile is not transposed: scratchpad row ``wgt + k*dim + c`` holds the
        weights from input lane c to output lanes 0..dim-1. Products are exact 16-bit;
        sums wrap at 32 bits. The accumulator rows of different (o, i) must differ
        (o_acc_inc >= i_count when o_count > 1). ``k_count * o_count * i_count * dim**2``
        MACs."""),
    Opcode.VADD: InstructionFormat(Opcode.VADD, Queue.COMPUTE, tuple(f.name for f in TOKEN_FIELDS),
        _VADD_FIELDS,
        """Add source rows to accumulator rows (bias add, residual add).

        For n < count: ``acc[dst + n*dst_stride] += src_row(src + n*src_stride)``, lane by
        lane, wrapping at 32 bits. The source row is an accumulator row (int32) or a
        scratchpad row (int8, sign-extended). src_stride = 0 broadcasts one row (a bias).
        Destination rows must be distinct and, when src_mem = acc, must not be source
        rows."""),
    Opcode.VCLIP: InstructionFormat(Opcode.VCLIP, Queue.COMPUTE,
        tuple(f.name for f in TOKEN_FIELDS), _VCLIP_FIELDS,
        """Clamp accumulator rows in place to [lo, hi] (ReLU: lo = 0, hi = 2**31-1).

        For n < count: every lane x of ``acc[dst + n*dst_stride]`` becomes
        ``min(max(x, lo), hi)``. Requires lo <= hi and distinct rows."""),
    Opcode.VREQ: InstructionFormat(Opcode.VREQ, Queue.COMPUTE, tuple(f.name for f in TOKEN_FIELDS),
        _VREQ_FIELDS,
        """Requantize int32 accumulator rows to int8 scratchpad rows, per lane (channel).

        With m = acc[param][lane] (int32 multiplier) and s = acc[param+1][lane] & 63
        (shift, 0..63), for n < count and each lane, x = acc[src + n*src_stride][lane]::

            p = x * m                                  # exact, 64-bit signed
            q = (p >> s) + ((p >> (s - 1)) & 1 if s > 0 else 0)
                                                       # arithmetic shift, round half up
                                                       # (= floor(p / 2**s + 1/2))
            y = min(max(q + zero_point, lo), hi)       # saturate to [lo, hi] within int8
            sp[dst + n*dst_stride][lane] = y           # int8

        ReLU fused: lo = zero_point. Requires lo <= hi and distinct destination rows."""),
    Opcode.VPOOL: InstructionFormat(Opcode.VPOOL, Queue.COMPUTE,
        tuple(f.name for f in TOKEN_FIELDS), _VPOOL_FIELDS,
        """Reduce windows of rows (max or average pooling across pixels).

        For n < count, over wy < win_h, wx < win_w, source rows
        ``src + n*src_stride + wy*win_stride_h + wx*win_stride_w`` (int32, or int8
        sign-extended) are reduced lane by lane: mode max takes the maximum, mode sum the
        32-bit wrapping sum. The result goes to row ``dst + n*dst_stride`` of dst_mem:
        int32 into acc, or saturated to [-128, 127] into sp. Average pooling is a sum
        followed by VREQ with multiplier round(2**s / (win_h*win_w)) and shift s.
        Destination rows must be distinct and, in the same memory, not source rows."""),
    Opcode.FINISH: InstructionFormat(Opcode.FINISH, Queue.NONE, (), (),
        """End the program: fetching stops; the run is done one cycle after every queue
        has drained and every engine is idle. Carries no token flags."""),
}

MNEMONICS: dict[str, Opcode] = {op.name: op for op in FORMATS}


class Instruction:
    """One decoded instruction: an opcode and a value for each of its fields.

    Build with keyword arguments (omitted fields take their default, token flags
    default to 0); enumerated fields accept their names. Field values are read as
    attributes (``instr.dst``) or with ``instr[name]``. Values are range-checked
    on construction.
    """

    __slots__ = ("opcode", "values")

    def __init__(self, opcode: Opcode | str, **values: int | str):
        if isinstance(opcode, str):
            if opcode.upper() not in MNEMONICS:
                raise IsaError(f"unknown mnemonic '{opcode}'", field="opcode")
            opcode = MNEMONICS[opcode.upper()]
        opcode = Opcode(opcode)
        fmt = FORMATS[opcode]
        resolved: dict[str, int] = {}
        for f in TOKEN_FIELDS:
            resolved[f.name] = _field_value(fmt, f, values.pop(f.name, f.default))
            if resolved[f.name] and f.name not in fmt.tokens:
                raise IsaError(f"{opcode.name} cannot set token flag '{f.name}' "
                               f"(allowed: {', '.join(fmt.tokens) or 'none'})",
                               field=f.name, opcode=opcode.name)
        for f in fmt.fields:
            resolved[f.name] = _field_value(fmt, f, values.pop(f.name, f.default))
        if values:
            name = next(iter(values))
            raise IsaError(f"{opcode.name} has no field '{name}'", field=name, opcode=opcode.name)
        object.__setattr__(self, "opcode", opcode)
        object.__setattr__(self, "values", resolved)

    @property
    def format(self) -> InstructionFormat:
        """The instruction's layout."""
        return FORMATS[self.opcode]

    @property
    def queue(self) -> Queue:
        """The command queue the instruction is dispatched to."""
        return FORMATS[self.opcode].queue

    def __getattr__(self, name: str) -> int:
        try:
            return object.__getattribute__(self, "values")[name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, name: str) -> int:
        return self.values[name]

    def __setattr__(self, name, value):
        raise AttributeError("Instruction is immutable; use replace()")

    def replace(self, **values: int | str) -> Instruction:
        """Return a copy with some field values changed."""
        return Instruction(self.opcode, **{**self.values, **values})

    def __eq__(self, other) -> bool:
        return (isinstance(other, Instruction) and self.opcode == other.opcode
                and self.values == other.values)

    def __hash__(self) -> int:
        return hash((self.opcode, tuple(self.values.items())))

    def __repr__(self) -> str:
        return f"Instruction({format_instruction(self)!r})"


def _field_value(fmt: InstructionFormat, f: Field, raw: int | str) -> int:
    if type(raw) is int and f.lo <= raw <= f.hi and (f.minimum is None or raw >= f.minimum):
        return raw
    if isinstance(raw, str):
        if raw not in f.choices:
            raise IsaError(f"'{raw}' is not one of {', '.join(f.choices) or 'an enumeration'}",
                           field=f.name, opcode=fmt.mnemonic)
        return f.choices.index(raw)
    if isinstance(raw, bool):
        raw = int(raw)
    if not isinstance(raw, int):
        try:
            raw = int(raw)  # numpy integers
        except (TypeError, ValueError):
            raise IsaError(f"value {raw!r} is not an integer", field=f.name,
                           opcode=fmt.mnemonic) from None
    if not f.lo <= raw <= f.hi:
        raise IsaError(f"value {raw} outside [{f.lo}, {f.hi}] ({f.width} bits)",
                       field=f.name, opcode=fmt.mnemonic)
    if f.minimum is not None and raw < f.minimum:
        raise IsaError(f"value {raw} below the minimum {f.minimum}", field=f.name,
                       opcode=fmt.mnemonic)
    return raw


def encode(instruction: Instruction) -> int:
    """Return the 128-bit instruction word (an int) of ``instruction``."""
    fmt = instruction.format
    word = int(instruction.opcode)
    for f in (*TOKEN_FIELDS, *fmt.fields):
        value = instruction.values[f.name]
        word |= (value & ((1 << f.width) - 1)) << f.offset
    return word


def decode(word: int, index: int | None = None) -> Instruction:
    """Decode a 128-bit instruction word; raise IsaError naming ``index`` and the field."""
    if not 0 <= word < 1 << INSTRUCTION_BITS:
        raise IsaError("instruction word is not 128 bits", index=index)
    code = word & OPCODE_FIELD.mask
    if code not in Opcode._value2member_map_:
        raise IsaError(f"illegal opcode {code}", field="opcode", index=index)
    opcode = Opcode(code)
    fmt = FORMATS[opcode]
    values: dict[str, int] = {}
    used = OPCODE_FIELD.mask
    for f in (*TOKEN_FIELDS, *fmt.fields):
        raw = (word >> f.offset) & ((1 << f.width) - 1)
        if f.signed and raw >> (f.width - 1):
            raw -= 1 << f.width
        values[f.name] = raw
        used |= f.mask
    reserved = word & ~used & ((1 << INSTRUCTION_BITS) - 1)
    if reserved:
        low = (reserved & -reserved).bit_length() - 1
        raise IsaError(f"reserved bit {low} is set", field="reserved", index=index,
                       opcode=opcode.name)
    try:
        return Instruction(opcode, **values)
    except IsaError as error:
        raise IsaError(str(error).split(": ", 1)[-1], field=error.field, index=index,
                       opcode=opcode.name) from None


def encode_program(instructions: Iterable[Instruction]) -> bytes:
    """Return the DRAM image of a program: 16 little-endian bytes per instruction."""
    return b"".join(encode(i).to_bytes(INSTRUCTION_BYTES, "little") for i in instructions)


def decode_program(data: bytes) -> list[Instruction]:
    """Decode a program image (a multiple of 16 bytes) into instructions."""
    data = bytes(data)
    if len(data) % INSTRUCTION_BYTES:
        raise IsaError(f"program image of {len(data)} bytes is not a multiple of "
                       f"{INSTRUCTION_BYTES}")
    return [decode(int.from_bytes(data[i:i + INSTRUCTION_BYTES], "little"), index=n)
            for n, i in enumerate(range(0, len(data), INSTRUCTION_BYTES))]


def format_instruction(instruction: Instruction) -> str:
    """Return the canonical assembler text of one instruction.

    Canonical form: the mnemonic, then the set token flags as bare words in the
    order pop_prev pop_next push_prev push_next, then every field as
    ``name=value`` in layout order; enumerated fields by name, ``dram`` in hex,
    all other values in decimal.
    """
    parts = [instruction.opcode.name]
    parts += [f.name for f in TOKEN_FIELDS if instruction.values[f.name]]
    for f in instruction.format.fields:
        value = instruction.values[f.name]
        if f.choices:
            text = f.choices[value]
        elif f.name == "dram":
            text = f"0x{value:x}"
        else:
            text = str(value)
        parts.append(f"{f.name}={text}")
    return " ".join(parts)


def disassemble(instructions: Iterable[Instruction] | bytes) -> str:
    """Return canonical assembler text, one instruction per line (bytes are decoded first)."""
    if isinstance(instructions, (bytes, bytearray, memoryview)):
        instructions = decode_program(bytes(instructions))
    return "".join(format_instruction(i) + "\n" for i in instructions)


_TOKEN_NAMES = {f.name for f in TOKEN_FIELDS}
_ASSIGNMENT = re.compile(r"^([a-z_]+)=(\S+)$")


def assemble(text: str) -> list[Instruction]:
    """Parse assembler text into instructions.

    One instruction per line: ``MNEMONIC [token flags] field=value ...``; ``#`` starts
    a comment; blank lines are skipped. Values are integers (decimal, 0x hex, 0b
    binary, with optional sign) or, for enumerated fields, their names; omitted
    fields take their defaults. Errors name the line and field.
    """
    program: list[Instruction] = []
    for number, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.split("#", 1)[0].strip()
        if not line:
            continue
        words = line.split()
        mnemonic = words[0].upper()
        if mnemonic not in MNEMONICS:
            raise IsaError(f"unknown mnemonic '{words[0]}'", field="opcode", line=number)
        values: dict[str, int | str] = {}
        for word in words[1:]:
            if word in _TOKEN_NAMES:
                name, value = word, 1
            else:
                match = _ASSIGNMENT.match(word)
                if not match:
                    raise IsaError(f"expected name=value or a token flag, got '{word}'",
                                   line=number, opcode=mnemonic)
                name, text_value = match.groups()
                value = _parse_value(text_value, name, number, mnemonic)
            if name in values:
                raise IsaError("field given twice", field=name, line=number, opcode=mnemonic)
            values[name] = value
        try:
            program.append(Instruction(MNEMONICS[mnemonic], **values))
        except IsaError as error:
            raise IsaError(str(error).split(": ", 1)[-1], field=error.field, line=number,
                           opcode=mnemonic) from None
    return program


def _parse_value(text: str, name: str, line: int, mnemonic: str) -> int | str:
    try:
        return int(text, 0)
    except ValueError:
        if re.fullmatch(r"[a-z]+", text):
            return text
        raise IsaError(f"'{text}' is not an integer", field=name, line=line,
                       opcode=mnemonic) from None


def field_table(opcode: Opcode) -> list[Mapping[str, object]]:
    """Return the layout of ``opcode`` as rows (name, bits, width, signed, meaning).

    The header (opcode and the four token flags) comes first; used to generate and
    check docs/isa.md and by the RTL decoder generator.
    """
    fmt = FORMATS[opcode]
    rows = []
    for f in (OPCODE_FIELD, *TOKEN_FIELDS, *fmt.fields):
        rows.append({"name": f.name, "bits": f"[{f.offset}:{f.offset + f.width})",
                     "offset": f.offset, "width": f.width, "signed": f.signed,
                     "choices": f.choices, "minimum": f.minimum, "doc": f.doc})
    return rows


def _check_layout() -> None:
    """Fail at import if two fields of an instruction overlap or one passes bit 127."""
    for fmt in FORMATS.values():
        used = 0
        for f in (OPCODE_FIELD, *TOKEN_FIELDS, *fmt.fields):
            if used & f.mask or f.offset + f.width > INSTRUCTION_BITS:
                raise AssertionError(f"{fmt.mnemonic}.{f.name} overlaps or overflows")
            used |= f.mask


_check_layout()
