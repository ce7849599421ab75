"""The control/status registers and performance counters, through cocotb on Verilator."""

import pytest
from kiln.hw.config import VPUConfig
from kiln.hw.rtl.control_registers import ControlRegisters

pytestmark = pytest.mark.rtl


def test_register_map(verilator_design, run_dir):
    config = VPUConfig(dim=4, sp_depth=512, acc_depth=256)
    design = verilator_design(ControlRegisters(config), "control_registers")
    design.check("kiln.sim.cocotb.benches.control_registers",
                 parameters={"dim": 4, "sp_depth": 512, "acc_depth": 256}, work_dir=run_dir)
