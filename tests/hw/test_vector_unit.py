"""The vector (post-processing) unit against kiln.sim.vector, through cocotb on Verilator."""

import pytest
from kiln.hw.config import VPUConfig
from kiln.hw.rtl.vector_unit import VectorUnit

pytestmark = pytest.mark.rtl
BENCH = "kiln.sim.cocotb.benches.vector_unit"


def _check(verilator_design, run_dir, dim, sp_depth, acc_depth, compact, instructions, seed):
    config = VPUConfig(dim=dim, sp_depth=sp_depth, acc_depth=acc_depth, compact=compact)
    design = verilator_design(VectorUnit(config), "vector_unit")
    design.check(BENCH, parameters={"dim": dim, "sp_depth": sp_depth, "acc_depth": acc_depth,
                                    "compact": compact, "instructions": instructions,
                                    "seed": seed}, work_dir=run_dir)


@pytest.mark.parametrize("dim,compact", [(4, False), (2, True), (4, True)])
def test_vector_unit(verilator_design, run_dir, dim, compact):
    _check(verilator_design, run_dir, dim, 64, 64, compact, instructions=150, seed=7)


@pytest.mark.slow
@pytest.mark.parametrize("dim,sp_depth,acc_depth,compact", [
    (2, 32, 16, False), (8, 128, 64, False), (16, 64, 256, False), (8, 128, 64, True)])
def test_vector_unit_sweep(verilator_design, run_dir, dim, sp_depth, acc_depth, compact):
    _check(verilator_design, run_dir, dim, sp_depth, acc_depth, compact, instructions=300,
           seed=dim)
