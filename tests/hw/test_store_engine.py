"""The store engine against kiln.sim.dma under DRAM back-pressure, through cocotb on Verilator."""

import pytest
from kiln.hw.config import VPUConfig
from kiln.hw.rtl.store_engine import StoreEngine

pytestmark = pytest.mark.rtl
BENCH = "kiln.sim.cocotb.benches.store_engine"


def _check(verilator_design, run_dir, dim, bus_bytes, compact=False, **parameters):
    config = VPUConfig(dim=dim, sp_depth=64, acc_depth=64, dram_bus_bytes=bus_bytes,
                       compact=compact)
    design = verilator_design(StoreEngine(config), "store_engine")
    design.check(BENCH, parameters={"dim": dim, "sp_depth": 64, "acc_depth": 64,
                                    "bus_bytes": bus_bytes, **parameters}, work_dir=run_dir)


def test_store_engine_backpressure(verilator_design, run_dir):
    _check(verilator_design, run_dir, 4, 8, stores=60, ready_probability=0.6, seed=4)


@pytest.mark.parametrize("dim,bus_bytes", [(2, 4), (4, 8)])
def test_compact_store_engine_backpressure(verilator_design, run_dir, dim, bus_bytes):
    _check(verilator_design, run_dir, dim, bus_bytes, compact=True, stores=80,
           ready_probability=0.6, seed=dim)


@pytest.mark.slow
@pytest.mark.parametrize("compact", [False, True])
@pytest.mark.parametrize("dim,bus_bytes,ready", [
    (2, 4, 1.0), (4, 16, 0.3), (4, 4, 0.9), (2, 32, 0.5)])
def test_store_engine_sweep(verilator_design, run_dir, dim, bus_bytes, ready, compact):
    _check(verilator_design, run_dir, dim, bus_bytes, compact=compact, stores=150,
           ready_probability=ready, seed=dim + bus_bytes)
