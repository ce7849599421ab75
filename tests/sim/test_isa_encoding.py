"""Encoder, decoder, assembler and disassembler: round trips and errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kiln.hw import isa
from kiln.hw.isa import FORMATS, TOKEN_FIELDS, Instruction, IsaError, Opcode


@st.composite
def instructions(draw):
    opcode = draw(st.sampled_from(list(FORMATS)))
    fmt = FORMATS[opcode]
    values = {}
    for f in fmt.fields:
        lo = f.minimum if f.minimum is not None else f.lo
        values[f.name] = draw(st.integers(lo, f.hi))
    for name in fmt.tokens:
        values[name] = draw(st.integers(0, 1))
    return Instruction(opcode, **values)


@settings(max_examples=300, deadline=None)
@given(st.lists(instructions(), min_size=1, max_size=12))
def test_random_programs_round_trip(program):
    image = isa.encode_program(program)
    assert len(image) == 16 * len(program)
    assert isa.decode_program(image) == program
    text = isa.disassemble(program)
    assert isa.assemble(text) == program
    assert isa.disassemble(isa.assemble(text)) == text
    assert isa.disassemble(image) == text


@settings(max_examples=200, deadline=None)
@given(instructions())
def test_each_field_lands_in_its_bits(instruction):
    word = isa.encode(instruction)
    assert word & 0xF == int(instruction.opcode)
    for f in (*TOKEN_FIELDS, *instruction.format.fields):
        raw = (word >> f.offset) & ((1 << f.width) - 1)
        value = raw - (1 << f.width) if f.signed and raw >> (f.width - 1) else raw
        assert value == instruction[f.name]


def test_fields_do_not_overlap_and_fit_128_bits():
    for fmt in FORMATS.values():
        used = 0xFF  # opcode and token flags
        for f in fmt.fields:
            assert f.offset + f.width <= 128
            assert used & f.mask == 0, (fmt.mnemonic, f.name)
            used |= f.mask


def test_queues_by_opcode():
    assert FORMATS[Opcode.LOAD].queue.value == "load"
    assert FORMATS[Opcode.STORE].queue.value == "store"
    for op in (Opcode.GEMM, Opcode.VADD, Opcode.VCLIP, Opcode.VREQ, Opcode.VPOOL):
        assert FORMATS[op].queue.value == "compute"


def test_assembler_accepts_comments_defaults_and_names():
    program = isa.assemble("""
        # a comment line
        LOAD push_next mem=acc dst=3 dram=0x40 y_size=2   # trailing comment

        vreq src=1 dst=2 param=4 zero_point=-7
        FINISH
    """)
    assert [i.opcode for i in program] == [Opcode.LOAD, Opcode.VREQ, Opcode.FINISH]
    assert program[0].mem == 1 and program[0].push_next == 1 and program[0].x_size == 1
    assert program[1].zero_point == -7 and program[1].lo == -128 and program[1].hi == 127


@pytest.mark.parametrize("text, field, line", [
    ("NOP", "opcode", 1),
    ("GEMM\nGEMM k_count=0", "k_count", 2),
    ("LOAD dst=70000", "dst", 1),
    ("LOAD pop_prev", "pop_prev", 1),
    ("STORE push_next", "push_next", 1),
    ("FINISH pop_prev", "pop_prev", 1),
    ("VCLIP lo=0x80000000", "lo", 1),
    ("LOAD mem=dram", "mem", 1),
    ("GEMM bogus=1", "bogus", 1),
    ("GEMM acc=1 acc=2", "acc", 1),
    ("GEMM acc=x1", "acc", 1),
])
def test_assembler_errors_name_line_and_field(text, field, line):
    with pytest.raises(IsaError) as info:
        isa.assemble(text)
    assert info.value.field == field
    assert info.value.line == line
    assert f"line {line}" in str(info.value)


def test_decoder_rejects_illegal_opcode_and_reserved_bits():
    for code in (0, 8, 14):
        with pytest.raises(IsaError) as info:
            isa.decode(code, index=5)
        assert info.value.field == "opcode" and "instruction 5" in str(info.value)
    with pytest.raises(IsaError, match="reserved bit 127") as info:
        isa.decode(int(Opcode.STORE) | 1 << 127, index=2)
    assert info.value.field == "reserved"
    with pytest.raises(IsaError) as info:
        isa.decode(int(Opcode.LOAD) | 1 << 4, index=3)  # pop_prev on LOAD
    assert info.value.field == "pop_prev"


def test_decoder_rejects_zero_counts():
    word = isa.encode(Instruction("VADD"))
    count = FORMATS[Opcode.VADD].field("count")
    with pytest.raises(IsaError) as info:
        isa.decode(word & ~count.mask, index=0)
    assert info.value.field == "count"


def test_signed_fields_round_trip_extremes():
    i = Instruction("VCLIP", lo=-(1 << 31), hi=(1 << 31) - 1)
    assert isa.decode(isa.encode(i)) == i
    r = Instruction("VREQ", zero_point=-128, lo=-128, hi=127)
    assert isa.decode(isa.encode(r)) == r


def test_program_image_is_little_endian():
    image = isa.encode_program([Instruction("FINISH")])
    assert image == bytes([15]) + bytes(15)
    assert np.frombuffer(image, np.uint8)[0] == 15


def test_instruction_is_immutable_and_replace_checks():
    i = Instruction("GEMM", acc=1)
    with pytest.raises(AttributeError):
        i.acc = 2
    assert i.replace(acc=2).acc == 2
    with pytest.raises(IsaError):
        i.replace(i_count=0)
