"""RtlTransport runs a program like the ISA simulator does, through the Transport contract."""

import numpy as np
import pytest
from kiln.drivers.vpu.rtl import RtlTransport
from kiln.hw import isa
from kiln.hw.config import VPUConfig
from kiln.sim.cocotb.errors import WatchdogError
from kiln.sim.machine import Machine
from kiln.sim.programs import example_programs

pytestmark = pytest.mark.rtl
SMALL = VPUConfig(dim=4, sp_depth=512, acc_depth=256)


def test_transport_runs_an_example_bit_exact():
    program = next(p for p in example_programs(SMALL) if p.name == "requant_relu")
    transport = RtlTransport(SMALL, dram_size=program.dram_size + 4096)
    transport.write_dram(0, program.dram_image)
    transport.write_dram(program.program_address, program.program_bytes)
    stats = transport.run(program.program_address, program.instruction_count, 100_000)
    machine = Machine(SMALL, dram_size=program.dram_size + 4096)
    machine.write(0, program.dram_image)
    machine.write(program.program_address, program.program_bytes)
    model = machine.run(program.program_address, program.instruction_count)
    for region in program.outputs:
        np.testing.assert_array_equal(region.read(transport.read_dram(0, region.address
                                                                      + region.nbytes)),
                                      region.read(machine.dram))
    assert stats.cycles > 0
    assert stats.counters["macs"] == model.counters["macs"]
    assert not program.mismatches(transport.read_dram(0, program.dram_size))


def test_transport_watchdog_and_bounds():
    transport = RtlTransport(SMALL, dram_size=8192)
    slow = isa.Instruction(isa.Opcode.LOAD, mem="sp", dst=0, dram=4096, y_size=100,
                           x_size=1, y_stride=4)
    transport.write_dram(0, isa.encode_program([slow, isa.Instruction(isa.Opcode.FINISH)]))
    with pytest.raises(WatchdogError, match="cycles"):
        transport.run(0, 2, max_cycles=40)
    with pytest.raises(ValueError, match="outside"):
        transport.read_dram(8000, 500)
