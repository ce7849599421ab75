"""The same benches on Icarus Verilog, the second simulator, where iverilog is installed."""

import shutil

import pytest
from kiln.hw.config import VPUConfig
from kiln.hw.rtl.systolic_array import SystolicArray
from kiln.hw.verilog import component_verilog
from kiln.sim.cocotb import cosim
from kiln.sim.cocotb.runner import IcarusDesign
from kiln.sim.programs import example_programs

pytestmark = [pytest.mark.rtl,
              pytest.mark.skipif(shutil.which("iverilog") is None,
                                 reason="Icarus Verilog (iverilog) is not installed")]


def test_systolic_array_on_icarus(run_dir):
    design = IcarusDesign(component_verilog(SystolicArray(4, tag_width=8), "systolic_array"),
                          "systolic_array")
    design.check("kiln.sim.cocotb.benches.systolic_array",
                 parameters={"dim": 4, "rows": 40, "seed": 7}, work_dir=run_dir)


def test_vpu_example_on_icarus():
    config = VPUConfig(dim=4, sp_depth=512, acc_depth=256)
    program = next(p for p in example_programs(config) if p.name == "maxpool2x2")
    result = cosim.cosimulate(program.instructions, program.dram_image, config,
                              program_address=program.program_address, simulator="icarus")
    assert not program.mismatches(result.rtl.dram)
