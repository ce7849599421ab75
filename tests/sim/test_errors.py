"""Bad programs stop with an error naming the instruction index, opcode and field."""

import numpy as np
import pytest
from kiln.hw.config import VPUConfig
from kiln.hw.isa import Instruction, Opcode, encode, encode_program
from kiln.hw.registers import ErrorCode
from kiln.sim import (
    AddressRangeError,
    CycleLimitError,
    DeadlockError,
    FieldRangeError,
    IllegalInstructionError,
    Machine,
    MissingFinishError,
)

PROGRAM = 0x4000


def machine(**kw):
    return Machine(VPUConfig(sp_depth=256, acc_depth=128, **kw), dram_size=1 << 15)


def run_words(m, words, count=None):
    image = b"".join(w.to_bytes(16, "little") for w in words)
    m.write(PROGRAM, image)
    return m.run(PROGRAM, len(words) if count is None else count, max_cycles=10**6)


def run(m, *instructions, finish=True, **kw):
    program = [*instructions, *([Instruction("FINISH")] if finish else [])]
    m.write(PROGRAM, encode_program(program))
    return m.run(PROGRAM, len(program), **kw)


def expect(error_type, index, field, code):
    def check(info):
        assert info.value.index == index
        assert info.value.field == field
        assert info.value.code == code
        assert f"instruction {index}" in str(info.value)
    return pytest.raises(error_type), check


def test_illegal_opcode_names_index():
    m = machine()
    words = [encode(Instruction("VCLIP")), 9, encode(Instruction("FINISH"))]
    with pytest.raises(IllegalInstructionError) as info:
        run_words(m, words)
    assert (info.value.index, info.value.field) == (1, "opcode")
    assert info.value.code == ErrorCode.ILLEGAL_OPCODE
    assert "instruction 1" in str(info.value)


def test_reserved_bit_and_forbidden_token():
    m = machine()
    with pytest.raises(IllegalInstructionError) as info:
        run_words(m, [encode(Instruction("FINISH")) | 1 << 100])
    assert info.value.field == "reserved"
    with pytest.raises(IllegalInstructionError) as info:
        run_words(m, [int(Opcode.STORE) | 1 << 7 | 1 << 57 | 1 << 65])   # STORE push_next
    assert info.value.field == "push_next"


def test_zero_count_is_a_field_error():
    m = machine()
    with pytest.raises(FieldRangeError) as info:
        run_words(m, [int(Opcode.VADD), encode(Instruction("FINISH"))])
    assert (info.value.index, info.value.field) == (0, "count")


@pytest.mark.parametrize("instruction, field, code", [
    (Instruction("LOAD", dst=250, y_size=10), "dst", ErrorCode.SP_RANGE),
    (Instruction("LOAD", mem="acc", dst=120, y_size=4, pad_bottom=5), "dst", ErrorCode.ACC_RANGE),
    (Instruction("LOAD", dram=(1 << 15) - 4), "dram", ErrorCode.DRAM_RANGE),
    (Instruction("LOAD", dram=100, y_size=3, y_stride=20000), "dram", ErrorCode.DRAM_RANGE),
    (Instruction("LOAD", lanes=9), "lanes", ErrorCode.FIELD_RANGE),
    (Instruction("STORE", src=255, y_size=2), "src", ErrorCode.SP_RANGE),
    (Instruction("STORE", dram=(1 << 15) - 8, mem="acc"), "dram", ErrorCode.DRAM_RANGE),
    (Instruction("STORE", y_size=2, y_stride=4), "x_stride", ErrorCode.FIELD_RANGE),
    (Instruction("GEMM", inp=250, i_count=10, i_inp_inc=1), "inp", ErrorCode.SP_RANGE),
    (Instruction("GEMM", wgt=250), "wgt", ErrorCode.SP_RANGE),
    (Instruction("GEMM", acc=127, i_count=2), "acc", ErrorCode.ACC_RANGE),
    (Instruction("GEMM", o_count=2, o_acc_inc=1, i_count=2), "o_acc_inc",
     ErrorCode.FIELD_RANGE),
    (Instruction("VADD", dst=0, count=3, dst_stride=0), "dst_stride", ErrorCode.FIELD_RANGE),
    (Instruction("VADD", src_mem="acc", dst=0, src=1, count=3, dst_stride=1, src_stride=1), "src",
     ErrorCode.FIELD_RANGE),
    (Instruction("VADD", src_mem="sp", src=300), "src", ErrorCode.SP_RANGE),
    (Instruction("VCLIP", lo=5, hi=4), "lo", ErrorCode.FIELD_RANGE),
    (Instruction("VCLIP", dst=100, count=30, dst_stride=1), "dst", ErrorCode.ACC_RANGE),
    (Instruction("VREQ", param=127), "param", ErrorCode.ACC_RANGE),
    (Instruction("VREQ", lo=3, hi=2), "lo", ErrorCode.FIELD_RANGE),
    (Instruction("VREQ", dst=255, count=2, dst_stride=1), "dst", ErrorCode.SP_RANGE),
    (Instruction("VPOOL", src=0, dst=1, count=1, win_w=2, win_stride_w=1), "dst",
     ErrorCode.FIELD_RANGE),
    (Instruction("VPOOL", src_mem="acc", src=120, win_h=3, win_stride_h=5), "src",
     ErrorCode.ACC_RANGE),
])
def test_out_of_range_and_illegal_fields(instruction, field, code):
    m = machine()
    padding = Instruction("VCLIP", dst=0)
    with pytest.raises((AddressRangeError, FieldRangeError)) as info:
        run(m, padding, instruction)
    assert info.value.index == 1
    assert info.value.field == field
    assert info.value.code == code
    assert instruction.opcode.name in str(info.value)
    assert f"field '{field}'" in str(info.value)


def test_program_without_finish():
    m = machine()
    with pytest.raises(MissingFinishError) as info:
        run(m, Instruction("VCLIP"), Instruction("VCLIP"), finish=False)
    assert info.value.index == 1
    assert info.value.code == ErrorCode.NO_FINISH


def test_program_outside_dram():
    m = machine()
    with pytest.raises(AddressRangeError) as info:
        m.run((1 << 15) - 8, 1)
    assert info.value.code == ErrorCode.DRAM_RANGE and info.value.index == 0


def test_deadlock_pop_never_satisfied():
    m = machine()
    with pytest.raises(DeadlockError) as info:
        run(m, Instruction("LOAD"), Instruction("GEMM", pop_prev=1, i_count=1),
            Instruction("STORE", pop_prev=1))
    assert info.value.index == 1
    assert info.value.field == "pop_prev"
    assert info.value.code == ErrorCode.DEADLOCK
    assert "load->compute" in str(info.value)


def test_deadlock_circular_wait_names_the_oldest():
    m = machine()
    with pytest.raises(DeadlockError) as info:
        run(m, Instruction("LOAD", pop_next=1, push_next=1),
            Instruction("GEMM", pop_prev=1, push_prev=1))
    assert info.value.index == 0 and info.value.field == "pop_next"


def test_deadlock_on_full_token_fifo():
    m = machine(token_queue_depth=2)
    loads = [Instruction("LOAD", push_next=1) for _ in range(3)]
    with pytest.raises(DeadlockError) as info:
        run(m, *loads, Instruction("GEMM", pop_next=1))
    assert info.value.field in ("push_next", "pop_next")
    assert "full" in str(info.value) or "store->compute" in str(info.value)


def test_full_token_fifo_stalls_then_proceeds():
    m = machine(token_queue_depth=1)
    program = []
    for _ in range(4):
        program.append(Instruction("LOAD", push_next=1))
    for _ in range(4):
        program.append(Instruction("GEMM", pop_prev=1, i_count=100))
    result = run(m, *program)
    assert result.counters["stall_load"] > 0
    assert result.counters["retired"] == 9


def test_cycle_limit_names_the_cycles_and_last_retired():
    m = machine()
    with pytest.raises(CycleLimitError) as info:
        run(m, Instruction("GEMM", i_count=120), Instruction("GEMM", i_count=120),
            max_cycles=250)
    assert info.value.code == ErrorCode.TIMEOUT
    assert "max_cycles = 250" in str(info.value)
    assert "retired" in str(info.value)


def test_no_silent_wraparound_of_addresses():
    m = machine()
    m.scratchpad[...] = 1
    with pytest.raises(AddressRangeError):
        run(m, Instruction("GEMM", inp=200, o_count=2, o_inp_inc=60, o_acc_inc=1))
    assert (m.accumulator == 0).all()


def test_errors_leave_memory_of_earlier_instructions():
    m = machine()
    m.write(0, np.arange(8, dtype=np.int8))
    with pytest.raises(IllegalInstructionError):
        m.write(PROGRAM, encode_program([Instruction("LOAD")]) + bytes(16))
        m.run(PROGRAM, 2)
    assert m.scratchpad[0].tolist() == list(range(8))
