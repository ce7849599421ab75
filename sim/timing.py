"""The timing contract: cycles and counted work of each instruction, from VPUConfig.

These formulas are the ones docs/isa.md ("Timing contract") states; the RTL is
built to match them. Every function takes a decoded, field-checked instruction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from kiln.hw.config import VPUConfig
from kiln.hw.isa import Instruction, Opcode


@dataclass(frozen=True)
class Cost:
    """What one instruction costs: engine cycles, MACs and DRAM bytes moved."""

    cycles: int
    macs: int = 0
    dma_read_bytes: int = 0
    dma_write_bytes: int = 0


def lanes(instruction: Instruction, config: VPUConfig) -> int:
    """Return the lanes a LOAD/STORE moves per element (field 0 means dim)."""
    return instruction.lanes or config.dim


def element_bytes(instruction: Instruction) -> int:
    """Return bytes per lane in DRAM: 1 for scratchpad (int8), 4 for accumulator (int32)."""
    return 1 if instruction.mem == 0 else 4


def _beats(i: Instruction, row_bytes: int, config: VPUConfig) -> int:
    """Return the DRAM bus beats a LOAD/STORE moves: each element takes the aligned
    beats covering its bytes, so an element straddling a beat boundary takes one more
    (what the RTL's DMA does)."""
    bus = config.dram_bus_bytes
    y = np.arange(i.y_size, dtype=np.int64)[:, None] * i.y_stride
    x = np.arange(i.x_size, dtype=np.int64)[None, :] * i.x_stride
    offsets = (i.dram + y + x) % bus
    return int(((offsets + row_bytes + bus - 1) // bus).sum())


def _load(i: Instruction, c: VPUConfig) -> Cost:
    row_bytes = lanes(i, c) * element_bytes(i)
    n_data = i.y_size * i.x_size
    n_all = (i.pad_top + i.y_size + i.pad_bottom) * (i.pad_left + i.x_size + i.pad_right)
    cycles = c.dram_latency + _beats(i, row_bytes, c) + (n_all - n_data)
    return Cost(cycles, dma_read_bytes=n_data * row_bytes)


def _store(i: Instruction, c: VPUConfig) -> Cost:
    row_bytes = lanes(i, c) * element_bytes(i)
    n_data = i.y_size * i.x_size
    return Cost(c.dram_latency + _beats(i, row_bytes, c), dma_write_bytes=n_data * row_bytes)


def _gemm(i: Instruction, c: VPUConfig) -> Cost:
    rows = i.o_count * i.i_count
    return Cost(i.k_count * (c.dim + rows) + c.gemm_pipeline_cycles,
                macs=i.k_count * rows * c.macs_per_cycle)


def row_cycles(config: VPUConfig) -> int:
    """Return the cycles a vector instruction spends per source row: 1, or ``dim`` in a
    compact build (its vector unit computes one lane per cycle)."""
    return config.dim if config.compact else 1


def _rows(i: Instruction, c: VPUConfig) -> Cost:
    return Cost(i.count * row_cycles(c) + c.vector_latency)


def _pool(i: Instruction, c: VPUConfig) -> Cost:
    return Cost(i.count * i.win_h * i.win_w * row_cycles(c) + c.vector_latency)


COSTS: dict[Opcode, Callable[[Instruction, VPUConfig], Cost]] = {
    Opcode.LOAD: _load,
    Opcode.STORE: _store,
    Opcode.GEMM: _gemm,
    Opcode.VADD: _rows,
    Opcode.VCLIP: _rows,
    Opcode.VREQ: _rows,
    Opcode.VPOOL: _pool,
}


def instruction_cost(instruction: Instruction, config: VPUConfig) -> Cost:
    """Return the cycles and work of one instruction (FINISH costs 1 cycle)."""
    if instruction.opcode == Opcode.FINISH:
        return Cost(1)
    return COSTS[instruction.opcode](instruction, config)
