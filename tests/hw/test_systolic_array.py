"""The systolic array against numpy's int32 matmul, through cocotb on Verilator."""

import pytest
from kiln.hw.rtl.systolic_array import SystolicArray

pytestmark = pytest.mark.rtl


def test_array_dim4(verilator_design, run_dir):
    design = verilator_design(SystolicArray(4, tag_width=8), "systolic_array")
    design.check("kiln.sim.cocotb.benches.systolic_array",
                 parameters={"dim": 4, "rows": 60, "seed": 3}, work_dir=run_dir)


@pytest.mark.parametrize("dim", [1, 2, 4])
def test_array_compact(verilator_design, run_dir, dim):
    design = verilator_design(SystolicArray(dim, tag_width=8, compact=True), "systolic_array")
    design.check("kiln.sim.cocotb.benches.systolic_array",
                 parameters={"dim": dim, "rows": 40, "seed": dim, "compact": True},
                 work_dir=run_dir)


@pytest.mark.slow
@pytest.mark.parametrize("dim", [1, 2, 3, 8, 16])
def test_array_sweep(verilator_design, run_dir, dim):
    design = verilator_design(SystolicArray(dim, tag_width=8), "systolic_array")
    design.check("kiln.sim.cocotb.benches.systolic_array",
                 parameters={"dim": dim, "rows": 50, "seed": dim}, work_dir=run_dir)
