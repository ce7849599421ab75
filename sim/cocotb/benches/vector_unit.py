"""Bench for `VectorUnit`: random and corner-case VADD, VCLIP, VREQ, VPOOL against the ISA simulator.

Parameters: ``dim``, ``sp_depth``, ``acc_depth`` (powers of two), ``compact``
(matching the build), ``instructions`` (random instructions per test), ``seed``.

The bench owns the scratchpad and accumulator (`RowMemoryModel` on the unit's
read and write ports) and runs every instruction on a `kiln.sim` `VpuState`
holding the same rows, with ``kiln.sim.vector``'s execute functions as the
golden model. After each instruction both memories must agree row for row, and
the unit must take exactly one cycle per source row (compact: ``dim``) plus its
pipeline.
Instructions the ISA simulator rejects (overlaps, lo > hi, ...) are redrawn.
"""

from __future__ import annotations

import cocotb
import numpy as np
from kiln.hw.config import VPUConfig
from kiln.hw.isa import Instruction, Opcode, encode
from kiln.hw.rtl.vector_unit import busy_cycles
from kiln.sim.cocotb.bench import parameters, start
from kiln.sim.cocotb.row_memory_model import MemoryClock, RowMemoryModel
from kiln.sim.errors import SimulationError
from kiln.sim.state import VpuState
from kiln.sim.vector import execute_vadd, execute_vclip, execute_vpool, execute_vreq

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
INT32_CORNERS = np.array([INT32_MIN, INT32_MIN + 1, -65536, -129, -128, -1, 0, 1, 127, 128,
                          65535, INT32_MAX - 1, INT32_MAX], dtype=np.int64)
EXECUTE = {Opcode.VADD: execute_vadd, Opcode.VCLIP: execute_vclip, Opcode.VREQ: execute_vreq,
           Opcode.VPOOL: execute_vpool}


def int32_values(rng, shape) -> np.ndarray:
    """Return int32 values: a third corners, a third small, a third anywhere."""
    kind = rng.integers(0, 3, size=shape)
    corners = rng.choice(INT32_CORNERS, size=shape)
    small = rng.integers(-300, 300, size=shape)
    wide = rng.integers(INT32_MIN, INT32_MAX + 1, size=shape, dtype=np.int64)
    return np.select([kind == 0, kind == 1], [corners, small], wide).astype(np.int32)


def int8_bounds(rng) -> tuple[int, int]:
    """Return (lo, hi) with lo <= hi, often the full int8 range or a ReLU."""
    pick = rng.integers(0, 4)
    if pick == 0:
        return -128, 127
    if pick == 1:
        zero = int(rng.integers(-128, 128))
        return zero, 127
    lo, hi = sorted(int(v) for v in rng.integers(-128, 128, size=2))
    return lo, hi


class VectorUnitTB:
    """The unit's memories, the golden state and the instruction-at-a-time driver."""

    def __init__(self, dut, config: VPUConfig, rng):
        self.dut, self.config, self.rng = dut, config, rng
        self.golden = VpuState(config, np.zeros(16, dtype=np.uint8))
        self.golden.scratchpad[:] = rng.integers(-128, 128, size=self.golden.scratchpad.shape)
        self.golden.accumulator[:] = int32_values(rng, self.golden.accumulator.shape)
        self.sp = RowMemoryModel(dut, self.golden.scratchpad.copy(), ["sp_read__"], "sp_write__")
        self.acc = RowMemoryModel(dut, self.golden.accumulator.copy(),
                                  ["acc_read_a__", "acc_read_b__"], "acc_write__")
        self.clock = MemoryClock(dut, [self.sp, self.acc])
        self.executed = {op: 0 for op in EXECUTE}
        dut.start.value = 0
        dut.instruction.value = 0

    def write_vreq_parameters(self, param: int) -> None:
        """Fill rows param (multipliers) and param+1 (shifts) with corner-heavy values."""
        dim = self.config.dim
        multipliers = int32_values(self.rng, dim)
        shifts = self.rng.integers(0, 64, size=dim)
        corner = self.rng.random(dim) < 0.4
        shifts = np.where(corner, self.rng.choice([0, 1, 31, 32, 62, 63], size=dim), shifts)
        high = self.rng.integers(0, 1 << 25, size=dim) << 6  # bits the ISA ignores (& 63)
        for memory in (self.golden.accumulator, self.acc.memory):
            memory[param] = multipliers
            memory[param + 1] = (shifts + high).astype(np.int32)

    def draw(self) -> Instruction:
        """Return a random vector instruction the ISA simulator accepts (not yet executed)."""
        rng, c = self.rng, self.config
        while True:
            opcode = [Opcode.VADD, Opcode.VCLIP, Opcode.VREQ, Opcode.VPOOL][rng.integers(4)]
            count = int(rng.integers(1, 7))
            dst_stride = int(rng.integers(1, 4))
            src_stride = int(rng.integers(0, 4))
            if opcode == Opcode.VADD:
                src_mem = ["sp", "acc"][rng.integers(2)]
                depth = c.sp_depth if src_mem == "sp" else c.acc_depth
                i = Instruction(opcode, src_mem=src_mem, dst=int(rng.integers(c.acc_depth)),
                                src=int(rng.integers(depth)), count=count,
                                dst_stride=dst_stride, src_stride=src_stride)
            elif opcode == Opcode.VCLIP:
                bounds = sorted(int(v) for v in int32_values(rng, 2))
                i = Instruction(opcode, dst=int(rng.integers(c.acc_depth)), count=count,
                                dst_stride=dst_stride, lo=bounds[0], hi=bounds[1])
            elif opcode == Opcode.VREQ:
                lo, hi = int8_bounds(rng)
                i = Instruction(opcode, src=int(rng.integers(c.acc_depth)),
                                dst=int(rng.integers(c.sp_depth)),
                                param=int(rng.integers(c.acc_depth - 1)), count=count,
                                src_stride=src_stride, dst_stride=dst_stride,
                                zero_point=int(rng.integers(-128, 128)), lo=lo, hi=hi)
            else:
                src_mem, dst_mem = (["sp", "acc"][rng.integers(2)] for _ in range(2))
                depth = c.sp_depth if src_mem == "sp" else c.acc_depth
                i = Instruction(opcode, mode=["max", "sum"][rng.integers(2)], src_mem=src_mem,
                                dst_mem=dst_mem,
                                dst=int(rng.integers(c.sp_depth if dst_mem == "sp"
                                                     else c.acc_depth)),
                                src=int(rng.integers(depth)), count=count,
                                dst_stride=dst_stride, src_stride=src_stride,
                                win_h=int(rng.integers(1, 4)), win_w=int(rng.integers(1, 4)),
                                win_stride_h=int(rng.integers(0, 5)),
                                win_stride_w=int(rng.integers(0, 3)))
            if self._accepted(i):
                return i

    def _accepted(self, i: Instruction) -> bool:
        trial = VpuState(self.config, self.golden.dram)
        trial.scratchpad, trial.accumulator = self.golden.scratchpad.copy(), \
            self.golden.accumulator.copy()
        try:
            EXECUTE[i.opcode](i, trial, 0)
        except SimulationError:
            return False
        return True

    async def execute(self, i: Instruction) -> None:
        """Run ``i`` on the RTL (start in this cycle) and the golden model; compare."""
        if i.opcode == Opcode.VREQ:
            self.write_vreq_parameters(i.param)
        EXECUTE[i.opcode](i, self.golden, self.executed[i.opcode])
        self.executed[i.opcode] += 1
        await self.run(i)

    async def run(self, i: Instruction) -> None:
        """Start ``i`` on the RTL in this cycle, wait until idle, compare with the golden state."""
        dut = self.dut
        dut.instruction.value = encode(i)
        dut.start.value = 1
        await self.clock.rise()
        busy = 0
        while True:
            await self.clock.fall()
            dut.start.value = 0
            if not int(dut.busy.value):
                break
            busy += 1
            assert busy < 10_000, f"{i} still busy after 10000 cycles"
            await self.clock.rise()
        expected = busy_cycles(i, self.config)
        assert busy == expected, \
            f"{i}: busy for {busy} cycles, expected {expected} (one per source row, compact: dim)"
        self.compare(i)

    def compare(self, i: Instruction) -> None:
        for name, rtl, gold in (("scratchpad", self.sp.memory, self.golden.scratchpad),
                                ("accumulator", self.acc.memory, self.golden.accumulator)):
            bad = np.argwhere(rtl != gold)
            if bad.size:
                row, lane = (int(v) for v in bad[0])
                raise AssertionError(
                    f"{i}: {name} row {row} lane {lane} is {int(rtl[row, lane])}, the ISA "
                    f"simulator has {int(gold[row, lane])} ({len(bad)} lanes differ)")


def config_from(p: dict) -> VPUConfig:
    return VPUConfig(dim=p.get("dim", 4), sp_depth=p.get("sp_depth", 64),
                     acc_depth=p.get("acc_depth", 64), compact=p.get("compact", False))


@cocotb.test()
async def random_instructions_match_simulator(dut):
    """Random vector instructions back to back, corner-heavy operands, compared row by row."""
    p = parameters()
    rng = np.random.default_rng(p.get("seed", 0))
    tb = VectorUnitTB(dut, config_from(p), rng)
    await start(dut)
    await tb.clock.fall()
    for _ in range(p.get("instructions", 100)):
        await tb.execute(tb.draw())
    assert all(tb.executed.values()), f"an opcode was never drawn: {tb.executed}"


@cocotb.test()
async def requantize_corners(dut):
    """VREQ on every (x, multiplier, shift) corner: INT32 min/max, shift 0, 1, 31, 32, 62, 63."""
    p = parameters()
    config = config_from(p)
    dim = config.dim
    tb = VectorUnitTB(dut, config, np.random.default_rng(p.get("seed", 0) + 1))
    await start(dut)
    await tb.clock.fall()
    xs = [INT32_MIN, INT32_MIN + 1, -3, -2, -1, 0, 1, 2, 3, INT32_MAX]
    ms = [INT32_MIN, -1, 1, 3, 1 << 30, INT32_MAX]
    shifts = [0, 1, 2, 31, 32, 62, 63]
    cases = [(x, m, s) for x in xs for m in ms for s in shifts]
    param, src = 0, 2
    padded = cases + [(0, 0, 0)] * (-len(cases) % dim)
    # Each chunk of dim cases: lane j gets case j's x, multiplier and shift.
    for first in range(0, len(padded), dim):
        chunk = padded[first:first + dim]
        for memory in (tb.golden.accumulator, tb.acc.memory):
            memory[param] = [m for _, m, _ in chunk]
            memory[param + 1] = [s for _, _, s in chunk]
            memory[src] = [x for x, _, _ in chunk]
        for zero_point, lo, hi in ((0, -128, 127), (-128, -128, 127), (127, -128, 127),
                                   (5, 5, 100)):
            i = Instruction(Opcode.VREQ, src=src, dst=first // dim % config.sp_depth, param=param,
                            count=1, zero_point=zero_point, lo=lo, hi=hi)
            EXECUTE[i.opcode](i, tb.golden, 0)
            await tb.run(i)


def near_window(rng, shift: int, multipliers: np.ndarray) -> np.ndarray:
    """Return int32 x per lane with x * multiplier ~ +-2**(shift + 3 .. shift + 11), where
    the result after the shift is near the int8 range and rounding and saturation decide
    it (clipped to int32 where no such x exists)."""
    bits = np.minimum(62, shift + rng.integers(3, 12, size=multipliers.size))
    target = rng.integers(1 << (bits - 1), 1 << bits) * rng.choice([-1, 1], size=bits.size)
    return np.clip(target // multipliers, INT32_MIN, INT32_MAX)


@cocotb.test()
async def requantize_every_shift(dut):
    """VREQ at every shift 0..63 with products near the int8 window, an exact half in lane 0
    of the first row, random zero points and bounds."""
    p = parameters()
    config = config_from(p)
    dim = config.dim
    rng = np.random.default_rng(p.get("seed", 0) + 2)
    tb = VectorUnitTB(dut, config, rng)
    await start(dut)
    await tb.clock.fall()
    param, src, rows = 0, 2, 4
    for shift in range(64):
        multipliers = int32_values(rng, dim).astype(np.int64)
        multipliers[multipliers == 0] = 1
        xs = np.stack([near_window(rng, shift, multipliers) for _ in range(rows)])
        if shift:  # (2k + 1) * 2**(shift - 1): a tie, rounded up
            e = min(shift - 1, 30)
            multipliers[0] = 1 << e
            xs[0, 0] = np.clip((2 * int(rng.integers(-300, 300)) + 1) << (shift - 1 - e),
                               INT32_MIN, INT32_MAX)
        for memory in (tb.golden.accumulator, tb.acc.memory):
            memory[param] = multipliers
            memory[param + 1] = shift
            memory[src:src + rows] = xs
        lo, hi = int8_bounds(rng)
        i = Instruction(Opcode.VREQ, src=src, dst=shift % (config.sp_depth - rows), param=param,
                        count=rows, src_stride=1, dst_stride=1,
                        zero_point=int(rng.integers(-128, 128)), lo=lo, hi=hi)
        EXECUTE[i.opcode](i, tb.golden, 0)
        await tb.run(i)
