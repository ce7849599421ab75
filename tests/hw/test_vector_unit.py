"""The vector (post-processing) unit against kiln.sim.vector, through cocotb on Verilator."""

import pytest
from kiln.hw.config import VPUConfig
from kiln.hw.rtl.vector_unit import VectorUnit

pytestmark = pytest.mark.rtl
BENCH = "kiln.sim.cocotb.benches.vector_unit"


def test_vector_unit_dim4(verilator_design, run_dir):
    config = VPUConfig(dim=4, sp_depth=64, acc_depth=64)
    design = verilator_design(VectorUnit(config), "vector_unit")
    design.check(BENCH, parameters={"dim": 4, "sp_depth": 64, "acc_depth": 64,
                                    "instructions": 150, "seed": 7}, work_dir=run_dir)


@pytest.mark.slow
@pytest.mark.parametrize("dim,sp_depth,acc_depth", [(2, 32, 16), (8, 128, 64), (16, 64, 256)])
def test_vector_unit_sweep(verilator_design, run_dir, dim, sp_depth, acc_depth):
    config = VPUConfig(dim=dim, sp_depth=sp_depth, acc_depth=acc_depth)
    design = verilator_design(VectorUnit(config), "vector_unit")
    design.check(BENCH, parameters={"dim": dim, "sp_depth": sp_depth, "acc_depth": acc_depth,
                                    "instructions": 300, "seed": dim}, work_dir=run_dir)
