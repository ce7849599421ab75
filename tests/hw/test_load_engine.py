"""The load engine against kiln.sim.dma under DRAM back-pressure, through cocotb on Verilator."""

import pytest
from kiln.hw.config import VPUConfig
from kiln.hw.rtl.load_engine import LoadEngine

pytestmark = pytest.mark.rtl
BENCH = "kiln.sim.cocotb.benches.load_engine"


def _check(verilator_design, run_dir, dim, bus_bytes, compact=False, **parameters):
    config = VPUConfig(dim=dim, sp_depth=64, acc_depth=64, dram_bus_bytes=bus_bytes,
                       compact=compact)
    design = verilator_design(LoadEngine(config), "load_engine")
    design.check(BENCH, parameters={"dim": dim, "sp_depth": 64, "acc_depth": 64,
                                    "bus_bytes": bus_bytes, **parameters}, work_dir=run_dir)


def test_load_engine_backpressure(verilator_design, run_dir):
    _check(verilator_design, run_dir, 4, 8, loads=60, ready_probability=0.6, latency=[1, 6],
           write_ready_probability=0.7, seed=3)


@pytest.mark.parametrize("dim,bus_bytes,latency", [(2, 4, [1, 6]), (4, 8, [2, 9])])
def test_compact_load_engine_backpressure(verilator_design, run_dir, dim, bus_bytes, latency):
    _check(verilator_design, run_dir, dim, bus_bytes, compact=True, loads=80,
           ready_probability=0.6, latency=latency, write_ready_probability=0.6, seed=dim)


@pytest.mark.slow
@pytest.mark.parametrize("compact", [False, True])
@pytest.mark.parametrize("dim,bus_bytes,ready,latency", [
    (2, 4, 1.0, [1, 1]), (4, 16, 0.3, [1, 20]), (4, 4, 0.9, [2, 9]), (2, 32, 0.5, [1, 4])])
def test_load_engine_sweep(verilator_design, run_dir, dim, bus_bytes, ready, latency, compact):
    _check(verilator_design, run_dir, dim, bus_bytes, compact=compact, loads=150,
           ready_probability=ready, latency=latency, write_ready_probability=0.5,
           seed=dim + bus_bytes)
