"""Bench for `GemmEngine`: random GEMM loop nests against ``kiln.sim.gemm``.

Parameters: ``dim``, ``sp_depth``, ``acc_depth``, ``compact`` (matching the build),
``instructions``, ``seed``.

The bench owns the scratchpad (input and weight read ports) and the
accumulator (read-modify-write ports) and runs each GEMM on the ISA
simulator's state with the same rows (GEMMs it rejects are redrawn). Operands
are corner-heavy (-128, 127) and accumulators start near the int32 limits, so
wrapping is exercised; k_count up to 4 exercises the double-buffered weight
preload and accumulation across k. After each GEMM the accumulator must equal
the simulator's, the scratchpad must be untouched, and ``macs`` must add up to
``k_count * o_count * i_count * dim**2``.
"""

from __future__ import annotations

import cocotb
import numpy as np
from kiln.hw.config import VPUConfig
from kiln.hw.isa import Instruction, Opcode, encode
from kiln.sim.cocotb.bench import parameters, start
from kiln.sim.cocotb.row_memory_model import MemoryClock, RowMemoryModel
from kiln.sim.errors import SimulationError
from kiln.sim.gemm import execute_gemm
from kiln.sim.state import VpuState


class FallingEdgeWriteModel(RowMemoryModel):
    """A compact VPU's accumulator (`RowMemory` ``write_on_falling_edge``): a read returns
    the row written in the same cycle."""

    def sample(self) -> None:
        """Take the write offered for the coming rising edge, then the reads."""
        reads, self.reads = self.reads, []
        super().sample()
        self.reads, write, self.write = reads, self.write, None
        super().sample()
        self.write = write


def corner_int8(rng, shape) -> np.ndarray:
    """Return int8 values, half of them -128, -127, -1, 0, 1 or 127."""
    corners = rng.choice(np.array([-128, -127, -1, 0, 1, 127]), size=shape)
    return np.where(rng.random(shape) < 0.5, corners,
                    rng.integers(-128, 128, size=shape)).astype(np.int8)


def draw_gemm(golden: VpuState, rng) -> Instruction:
    """Return a random GEMM the ISA simulator accepts."""
    c = golden.config
    while True:
        k_count, o_count, i_count = (int(rng.integers(1, 5)), int(rng.integers(1, 4)),
                                     int(rng.integers(1, 5)))
        i = Instruction(Opcode.GEMM, accumulate=int(rng.integers(2)),
                        acc=int(rng.integers(c.acc_depth)), inp=int(rng.integers(c.sp_depth)),
                        wgt=int(rng.integers(c.sp_depth)), k_count=k_count,
                        k_inp_inc=int(rng.integers(0, 9)), o_count=o_count,
                        o_inp_inc=int(rng.integers(0, 9)),
                        o_acc_inc=i_count + int(rng.integers(0, 3)), i_count=i_count,
                        i_inp_inc=int(rng.integers(0, 3)))
        trial = VpuState(c, golden.dram)
        trial.scratchpad, trial.accumulator = golden.scratchpad.copy(), golden.accumulator.copy()
        try:
            execute_gemm(i, trial, 0)
        except SimulationError:
            continue
        return i


@cocotb.test()
async def random_gemms_match_simulator(dut):
    """Random GEMMs back to back; compare the accumulator and the MAC count after each."""
    p = parameters()
    c = VPUConfig(dim=p.get("dim", 4), sp_depth=p.get("sp_depth", 64),
                  acc_depth=p.get("acc_depth", 64))
    rng = np.random.default_rng(p.get("seed", 0))
    golden = VpuState(c, np.zeros(16, dtype=np.uint8))
    golden.scratchpad[:] = corner_int8(rng, golden.scratchpad.shape)
    near_limits = rng.choice(np.array([-(1 << 31), (1 << 31) - 1, 0]), size=golden.accumulator.shape)
    offsets = rng.integers(-1000, 1000, size=near_limits.shape)
    golden.accumulator[:] = (near_limits - offsets).astype(np.int32)  # wraps past the limits
    sp = RowMemoryModel(dut, golden.scratchpad.copy(), ["input_read__", "weight_read__"])
    memory = FallingEdgeWriteModel if p.get("compact") else RowMemoryModel
    acc = memory(dut, golden.accumulator.copy(), ["acc_read__"], "acc_write__")
    clock = MemoryClock(dut, [sp, acc])
    macs = [0]
    clock.probes.append(lambda: macs.__setitem__(0, macs[0] + int(dut.macs.value)))
    dut.start.value = 0
    await start(dut)
    await clock.fall()
    for index in range(p.get("instructions", 40)):
        i = draw_gemm(golden, rng)
        execute_gemm(i, golden, index)
        macs[0] = 0
        dut.instruction.value = encode(i)
        dut.start.value = 1
        for _cycle in range(5000):
            await clock.rise()
            await clock.fall()
            dut.start.value = 0
            if not int(dut.busy.value):
                break
        else:
            raise AssertionError(f"{i} still busy after 5000 cycles")
        for name, rtl, gold in (("scratchpad", sp.memory, golden.scratchpad),
                                ("accumulator", acc.memory, golden.accumulator)):
            bad = np.argwhere(rtl != gold)
            if bad.size:
                row, lane = (int(v) for v in bad[0])
                raise AssertionError(f"GEMM {index} {i}: {name} row {row} lane {lane} is "
                                     f"{int(rtl[row, lane])}, the ISA simulator has "
                                     f"{int(gold[row, lane])} ({len(bad)} lanes differ)")
        want = i.k_count * i.o_count * i.i_count * c.dim ** 2
        assert macs[0] == want, f"{i}: macs added up to {macs[0]}, expected {want}"
