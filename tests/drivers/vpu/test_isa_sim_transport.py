import numpy as np
import pytest
from kiln.drivers.vpu.isa_sim import IsaSimTransport
from kiln.drivers.vpu.transport import RunStats, Transport
from kiln.errors import DeviceError
from kiln.hw.config import VPUConfig
from kiln.hw.isa import Instruction, encode_program
from kiln.sim import DeadlockError
from kiln.sim.programs import example_programs


def test_is_a_transport_and_runs_every_example(tmp_path):
    config = VPUConfig()
    for program in example_programs(config):
        t = IsaSimTransport(config, dram_size=program.dram_size + 4096)
        assert isinstance(t, Transport)
        t.write_dram(0, program.dram_image)
        stats = t.run(program.program_address, program.instruction_count, max_cycles=10**7)
        assert isinstance(stats, RunStats) and stats.cycles > 0
        assert {"macs", "dma_read_bytes", "stall_load", "stall_compute"} <= set(stats.counters)
        dram = t.read_dram(0, program.dram_size)
        assert dram.dtype == np.uint8
        assert program.mismatches(dram) == [], program.name
        t.close()


def test_trace_written_per_run(tmp_path):
    path = tmp_path / "trace.json"
    t = IsaSimTransport(VPUConfig(), dram_size=1 << 16, trace_path=path)
    t.write_dram(0x100, encode_program([Instruction("VCLIP"), Instruction("FINISH")]))
    t.run(0x100, 2, max_cycles=1000)
    assert path.stat().st_size > 0


def test_errors_are_device_errors_naming_the_instruction():
    t = IsaSimTransport(VPUConfig(), dram_size=1 << 16)
    t.write_dram(0, encode_program([Instruction("GEMM", pop_prev=1), Instruction("FINISH")]))
    with pytest.raises(DeviceError, match="instruction 0") as info:
        t.run(0, 2, max_cycles=1000)
    assert isinstance(info.value.__cause__, DeadlockError)
    with pytest.raises(DeviceError, match="max_cycles"):
        t.write_dram(0, encode_program([Instruction("GEMM", i_count=200), Instruction("FINISH")]))
        t.run(0, 2, max_cycles=50)
    with pytest.raises(DeviceError, match="outside DRAM"):
        t.read_dram((1 << 16) - 4, 8)
    t.close()
    with pytest.raises(DeviceError, match="closed"):
        t.read_dram(0, 1)
