"""Bench for `StoreEngine`: random STOREs against ``kiln.sim.dma`` behind a stalling DRAM.

Parameters: ``dim``, ``sp_depth``, ``acc_depth``, ``bus_bytes`` (matching the
build), ``stores``, ``ready_probability`` (DRAM back-pressure), ``seed``.

Each STORE draws any byte address, lanes, both memories, and row-major or
interleaved (column-major) element strides with gaps; the ISA simulator runs it
on the same DRAM and rows (STOREs it rejects, e.g. overlapping elements, are
redrawn). After each STORE the whole DRAM must equal the simulator's, so a
byte written outside the block, a lost mask bit or a wrong beat shows up;
``write_bytes`` must add up to the block's bytes and the engine must never read
DRAM.
"""

from __future__ import annotations

import cocotb
import numpy as np
from kiln.hw.isa import Opcode
from kiln.sim.cocotb.bench import parameters, start
from kiln.sim.cocotb.benches.load_engine import (
    compare_memories,
    config_from,
    draw_dma,
    random_state,
    run_engine,
)
from kiln.sim.cocotb.dram_model import DramModel
from kiln.sim.cocotb.row_memory_model import MemoryClock, RowMemoryModel
from kiln.sim.dma import execute_store


@cocotb.test()
async def random_stores_match_simulator(dut):
    """Random STOREs under DRAM back-pressure; compare every DRAM byte after each."""
    p = parameters()
    config = config_from(p)
    rng = np.random.default_rng(p.get("seed", 0))
    golden = random_state(config, rng)
    dram = DramModel(dut, "dram__", golden.dram.copy(), config.dram_bus_bytes,
                     ready_probability=p.get("ready_probability", 0.6), seed=p.get("seed", 0))
    sp = RowMemoryModel(dut, golden.scratchpad.copy(), ["sp_read__"])
    acc = RowMemoryModel(dut, golden.accumulator.copy(), ["acc_read__"])
    clock = MemoryClock(dut, [sp, acc], dram)
    dut.start.value = 0
    await start(dut)
    await clock.fall()
    for index in range(p.get("stores", 60)):
        i = draw_dma(Opcode.STORE, golden, rng)
        execute_store(i, golden, index)
        real = i.y_size * i.x_size * (i.lanes or config.dim) * (4 if i.mem else 1)
        counted = await run_engine(dut, clock, i, rng, 1.0, "write_bytes")
        compare_memories(i, [("dram", dram.memory, golden.dram)])
        assert counted == real, f"{i}: write_bytes added up to {counted}, expected {real}"
    assert dram.reads == 0, f"the store engine read DRAM {dram.reads} times"
