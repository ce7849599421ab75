"""The control/status registers and performance counters, through cocotb on Verilator."""

import pytest
from kiln.hw.config import VPUConfig
from kiln.hw.rtl.control_registers import ControlRegisters

pytestmark = pytest.mark.rtl


@pytest.mark.parametrize("compact", [False, True])
def test_register_map(verilator_design, run_dir, compact):
    config = VPUConfig(dim=4, sp_depth=512, acc_depth=256, compact=compact)
    design = verilator_design(ControlRegisters(config), "control_registers")
    design.check("kiln.sim.cocotb.benches.control_registers",
                 parameters={"dim": 4, "sp_depth": 512, "acc_depth": 256,
                             "counter_bits": config.counter_bits,
                             "macs": config.dim ** 2 if compact else 65535},
                 work_dir=run_dir)
