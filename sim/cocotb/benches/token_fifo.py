"""Bench for `TokenFifo`: random push/pop/clear sequences against a counter model.

Parameters: ``depth`` (matching the build), ``cycles``, ``seed``. Phases push
mostly, pop mostly or mix, so the FIFO spends long stretches full and empty;
pushes into a full FIFO (even with a pop in the same cycle) and pops from an
empty one must be ignored, a push and a pop in one cycle otherwise keep the
count, and clear wins over both.
"""

from __future__ import annotations

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge
from kiln.sim.cocotb.bench import parameters, start


@cocotb.test()
async def push_pop_clear_match_counter(dut):
    """Check can_push / can_pop every cycle against a Python token counter."""
    p = parameters()
    depth, cycles = p.get("depth", 4), p.get("cycles", 2000)
    rng = np.random.default_rng(p.get("seed", 0))
    for name in ("push", "pop", "clear"):
        getattr(dut, name).value = 0
    await start(dut)
    count = 0
    seen = {"full": 0, "empty": 0, "push_full": 0, "pop_empty": 0, "both": 0, "clear": 0}
    push_probability = 0.5
    for cycle in range(cycles):
        await FallingEdge(dut.clk)
        can_push, can_pop = int(dut.can_push.value), int(dut.can_pop.value)
        assert can_push == int(count < depth), \
            f"cycle {cycle}: {count} of {depth} tokens held but can_push = {can_push}"
        assert can_pop == int(count > 0), \
            f"cycle {cycle}: {count} tokens held but can_pop = {can_pop}"
        if cycle % 50 == 0:
            push_probability = float(rng.choice([0.1, 0.5, 0.9]))
        push = bool(rng.random() < push_probability)
        pop = bool(rng.random() < 1.0 - push_probability)
        clear = bool(rng.random() < 0.01)
        dut.push.value, dut.pop.value, dut.clear.value = int(push), int(pop), int(clear)
        seen["full"] += count == depth
        seen["empty"] += count == 0
        seen["push_full"] += push and count == depth
        seen["pop_empty"] += pop and count == 0
        seen["both"] += push and pop and count > 0
        seen["clear"] += clear and count > 0
        if clear:
            count = 0
        else:
            count += int(push and count < depth) - int(pop and count > 0)
    missing = [name for name, hits in seen.items() if not hits]
    assert not missing, f"corner cases never reached in {cycles} cycles: {missing}"
