"""The GEMM engine (with its systolic array) against kiln.sim.gemm, through cocotb on Verilator."""

import pytest
from kiln.hw.config import VPUConfig
from kiln.hw.rtl.gemm_engine import GemmEngine

pytestmark = pytest.mark.rtl
BENCH = "kiln.sim.cocotb.benches.gemm_engine"


@pytest.mark.parametrize("compact", [False, True])
def test_gemm_engine_dim4(verilator_design, run_dir, compact):
    config = VPUConfig(dim=4, sp_depth=64, acc_depth=64, compact=compact)
    design = verilator_design(GemmEngine(config), "gemm_engine")
    design.check(BENCH, parameters={"dim": 4, "sp_depth": 64, "acc_depth": 64,
                                    "compact": compact, "instructions": 40, "seed": 9},
                 work_dir=run_dir)


@pytest.mark.slow
@pytest.mark.parametrize("dim,sp_depth,acc_depth,compact", [
    (2, 32, 32, False), (8, 128, 64, False), (16, 256, 64, False), (2, 256, 128, True)])
def test_gemm_engine_sweep(verilator_design, run_dir, dim, sp_depth, acc_depth, compact):
    config = VPUConfig(dim=dim, sp_depth=sp_depth, acc_depth=acc_depth, compact=compact)
    design = verilator_design(GemmEngine(config), "gemm_engine")
    design.check(BENCH, parameters={"dim": dim, "sp_depth": sp_depth, "acc_depth": acc_depth,
                                    "compact": compact, "instructions": 80, "seed": dim},
                 work_dir=run_dir)
