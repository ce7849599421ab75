"""Bench for `LoadEngine`: random LOADs against ``kiln.sim.dma`` behind a stalling DRAM.

Parameters: ``dim``, ``sp_depth``, ``acc_depth``, ``bus_bytes`` (matching the
build), ``loads``, ``ready_probability`` (DRAM back-pressure), ``latency``
([low, high] read latency), ``write_ready_probability`` (the compute engine
holding the on-chip write ports), ``seed``.

Each LOAD draws any byte address, strides (zero included), lanes, both memories
and all four paddings; the ISA simulator runs it on a copy of the same DRAM and
memories (LOADs it rejects are redrawn). After each LOAD both on-chip memories
must equal the simulator's, DRAM must never be written, and ``read_bytes`` must
add up to the bytes of the block's real elements.
"""

from __future__ import annotations

import cocotb
import numpy as np
from kiln.hw.config import VPUConfig
from kiln.hw.isa import Instruction, Opcode, encode
from kiln.sim.cocotb.bench import parameters, start
from kiln.sim.cocotb.dram_model import DramModel
from kiln.sim.cocotb.row_memory_model import MemoryClock, RowMemoryModel
from kiln.sim.dma import execute_load, execute_store
from kiln.sim.errors import SimulationError
from kiln.sim.state import VpuState

DRAM_BYTES = 2048
EXECUTE = {Opcode.LOAD: execute_load, Opcode.STORE: execute_store}


def config_from(p: dict) -> VPUConfig:
    return VPUConfig(dim=p.get("dim", 4), sp_depth=p.get("sp_depth", 64),
                     acc_depth=p.get("acc_depth", 64), dram_bus_bytes=p.get("bus_bytes", 8))


def random_state(config: VPUConfig, rng) -> VpuState:
    """Return a state with random DRAM bytes and random scratchpad and accumulator rows."""
    state = VpuState(config, rng.integers(0, 256, DRAM_BYTES, dtype=np.uint8))
    state.scratchpad[:] = rng.integers(-128, 128, size=state.scratchpad.shape)
    state.accumulator[:] = rng.integers(-(1 << 31), 1 << 31, size=state.accumulator.shape)
    return state


def accepted(i: Instruction, golden: VpuState) -> bool:
    """Return whether the ISA simulator runs ``i`` on a copy of ``golden`` without error."""
    trial = VpuState(golden.config, golden.dram.copy())
    trial.scratchpad, trial.accumulator = golden.scratchpad.copy(), golden.accumulator.copy()
    try:
        EXECUTE[i.opcode](i, trial, 0)
    except SimulationError:
        return False
    return True


def draw_dma(opcode: Opcode, golden: VpuState, rng) -> Instruction:
    """Return a random LOAD or STORE (any alignment, strides, lanes) the simulator accepts."""
    c = golden.config
    while True:
        mem = int(rng.integers(2))
        lanes = int(rng.integers(0, c.dim + 1))
        element = (lanes or c.dim) * (4 if mem else 1)
        fields = {"mem": mem, "dram": int(rng.integers(0, DRAM_BYTES // 2)),
                  "y_size": int(rng.integers(1, 4)), "x_size": int(rng.integers(1, 5)),
                  "lanes": lanes}
        if opcode == Opcode.LOAD:
            fields.update(x_stride=int(rng.integers(0, 2 * element + 3)),
                          y_stride=int(rng.integers(0, 8 * element + 9)),
                          dst=int(rng.integers(0, 48)),
                          **{side: int(rng.integers(0, 3)) if rng.random() < 0.5 else 0
                             for side in ("pad_top", "pad_bottom", "pad_left", "pad_right")})
        else:
            x_stride = element + int(rng.integers(0, 6))
            fields.update(x_stride=x_stride,
                          y_stride=x_stride * fields["x_size"] + int(rng.integers(0, 9)),
                          src=int(rng.integers(0, 48)))
            if rng.random() < 0.3:  # column-major blocks: rows interleave in DRAM
                fields["x_stride"], fields["y_stride"] = (element * fields["y_size"]
                                                          + int(rng.integers(0, 3)), element)
        i = Instruction(opcode, **fields)
        if accepted(i, golden):
            return i


def compare_memories(i: Instruction, pairs) -> None:
    """Raise AssertionError at the first (name, rtl, golden) array pair that differs."""
    for name, rtl, gold in pairs:
        bad = np.argwhere(rtl != gold)
        if bad.size:
            where = tuple(int(v) for v in bad[0])
            raise AssertionError(f"{i}: {name}{list(where)} is {int(rtl[where])}, the ISA "
                                 f"simulator has {int(gold[where])} ({len(bad)} differ)")


async def run_engine(dut, clock: MemoryClock, i: Instruction, rng, ready: float,
                     byte_counter: str) -> int:
    """Start ``i`` in this cycle, randomise write readiness until idle; return counted bytes."""
    dut.instruction.value = encode(i)
    dut.start.value = 1
    counted = [0]

    def count_bytes() -> None:
        counted[0] += int(getattr(dut, byte_counter).value)

    clock.probes.append(count_bytes)
    for _cycle in range(20_000):
        if hasattr(dut, "sp_write_ready"):
            dut.sp_write_ready.value = int(rng.random() < ready)
            dut.acc_write_ready.value = int(rng.random() < ready)
        await clock.rise()
        await clock.fall()
        dut.start.value = 0
        if not int(dut.busy.value) and not clock.dram.responses:
            clock.probes.remove(count_bytes)
            return counted[0]
    raise AssertionError(f"{i} still busy after 20000 cycles")


@cocotb.test()
async def random_loads_match_simulator(dut):
    """Random LOADs under DRAM back-pressure, random latency and busy write ports."""
    p = parameters()
    config = config_from(p)
    rng = np.random.default_rng(p.get("seed", 0))
    golden = random_state(config, rng)
    dram = DramModel(dut, "dram__", golden.dram.copy(), config.dram_bus_bytes,
                     ready_probability=p.get("ready_probability", 0.6),
                     latency=tuple(p.get("latency", [1, 6])), seed=p.get("seed", 0))
    sp = RowMemoryModel(dut, golden.scratchpad.copy(), write_prefix="sp_write__")
    acc = RowMemoryModel(dut, golden.accumulator.copy(), write_prefix="acc_write__")
    clock = MemoryClock(dut, [sp, acc], dram)
    dut.start.value = 0
    await start(dut)
    await clock.fall()
    for index in range(p.get("loads", 60)):
        i = draw_dma(Opcode.LOAD, golden, rng)
        execute_load(i, golden, index)
        real = i.y_size * i.x_size * (i.lanes or config.dim) * (4 if i.mem else 1)
        counted = await run_engine(dut, clock, i, rng, p.get("write_ready_probability", 0.7),
                                   "read_bytes")
        compare_memories(i, [("scratchpad", sp.memory, golden.scratchpad),
                             ("accumulator", acc.memory, golden.accumulator)])
        assert counted == real, f"{i}: read_bytes added up to {counted}, expected {real}"
    assert dram.writes == 0, f"the load engine wrote DRAM {dram.writes} times"
