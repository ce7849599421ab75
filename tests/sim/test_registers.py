from kiln.hw import registers
from kiln.hw.registers import REGISTERS, ErrorCode


def test_offsets_are_unique_aligned_and_in_window():
    offsets = [r.offset for r in REGISTERS]
    assert len(set(offsets)) == len(offsets)
    assert all(o % 4 == 0 and o < registers.CSR_WINDOW_BYTES for o in offsets)
    assert all(1 <= r.width <= 32 for r in REGISTERS)


def test_counters_have_registers():
    for name, regs in registers.COUNTERS.items():
        for reg in regs:
            assert registers.register(reg).access == registers.Access.RO, name


def test_control_bits_and_lookup():
    assert registers.offset("CONTROL") == 0
    assert registers.bit("STATUS", "DONE") == 1
    assert registers.bit("CONTROL", "START") == 0
    assert int(ErrorCode.DEADLOCK) == 7
