"""The DRAM arbiter under random traffic and back-pressure, through cocotb on Verilator."""

import pytest
from kiln.hw.rtl.dram_arbiter import DramArbiter

pytestmark = pytest.mark.rtl
BENCH = "kiln.sim.cocotb.benches.dram_arbiter"


@pytest.mark.parametrize("compact", [False, True])
def test_three_masters_with_backpressure(verilator_design, run_dir, compact):
    design = verilator_design(DramArbiter(8, 3, max_reads=4, compact=compact), "dram_arbiter")
    design.check(BENCH, parameters={"masters": 3, "bus_bytes": 8, "requests": 150,
                                    "ready_probability": 0.6, "latency": [1, 6]},
                 work_dir=run_dir)


@pytest.mark.slow
@pytest.mark.parametrize("compact", [False, True])
@pytest.mark.parametrize("masters,bus_bytes,ready", [(1, 4, 1.0), (2, 16, 0.3), (4, 8, 0.9)])
def test_arbiter_sweep(verilator_design, run_dir, masters, bus_bytes, ready, compact):
    design = verilator_design(DramArbiter(bus_bytes, masters, compact=compact), "dram_arbiter")
    design.check(BENCH, parameters={"masters": masters, "bus_bytes": bus_bytes,
                                    "requests": 200, "ready_probability": ready,
                                    "latency": [1, 30]},
                 work_dir=run_dir)
