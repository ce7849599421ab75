"""LOAD and STORE: the 2-D strided DMA between DRAM and the on-chip memories."""

from __future__ import annotations

import numpy as np
from kiln.hw.isa import Instruction
from kiln.sim.errors import AddressRangeError, FieldRangeError, check_rows
from kiln.sim.state import VpuState
from kiln.sim.timing import element_bytes, lanes
from numpy.lib.stride_tricks import as_strided

_MEM = ("sp", "acc")


def _lanes(i: Instruction, state: VpuState, index: int) -> int:
    n = lanes(i, state.config)
    if n > state.config.dim:
        raise FieldRangeError(f"lanes = {n} exceeds dim = {state.config.dim}",
                              index=index, opcode=i.opcode.name, field="lanes")
    return n


def _dram_view(i: Instruction, state: VpuState, index: int, row_bytes: int) -> np.ndarray:
    """Return a (y_size, x_size, row_bytes) view of the DRAM bytes the block covers."""
    last = i.dram + (i.y_size - 1) * i.y_stride + (i.x_size - 1) * i.x_stride + row_bytes - 1
    if last >= state.dram.size:
        raise AddressRangeError(
            f"DRAM bytes 0x{i.dram:x}..0x{last:x} outside DRAM of {state.dram.size} bytes",
            memory="dram", index=index, opcode=i.opcode.name, field="dram")
    base = state.dram[i.dram:]
    return as_strided(base, shape=(i.y_size, i.x_size, row_bytes),
                      strides=(i.y_stride, i.x_stride, 1), writeable=True)


def _to_lanes(raw: np.ndarray, mem: str) -> np.ndarray:
    if mem == "sp":
        return raw.view(np.int8)
    return np.ascontiguousarray(raw).view("<i4")


def execute_load(i: Instruction, state: VpuState, index: int) -> None:
    """Copy the (padded) 2-D block from DRAM into on-chip rows, as LOAD specifies."""
    mem = _MEM[i.mem]
    n = _lanes(i, state, index)
    rows_y = i.pad_top + i.y_size + i.pad_bottom
    rows_x = i.pad_left + i.x_size + i.pad_right
    total = rows_y * rows_x
    check_rows(i.dst, i.dst + total - 1, state.depth(mem), mem, index=index,
               opcode="LOAD", field="dst")
    data = _to_lanes(_dram_view(i, state, index, n * element_bytes(i)), mem)
    target = state.memory(mem)[i.dst:i.dst + total].reshape(rows_y, rows_x, state.config.dim)
    target[...] = 0
    target[i.pad_top:i.pad_top + i.y_size, i.pad_left:i.pad_left + i.x_size, :n] = data


def execute_store(i: Instruction, state: VpuState, index: int) -> None:
    """Copy on-chip rows to the 2-D block in DRAM, as STORE specifies."""
    mem = _MEM[i.mem]
    n = _lanes(i, state, index)
    total = i.y_size * i.x_size
    check_rows(i.src, i.src + total - 1, state.depth(mem), mem, index=index,
               opcode="STORE", field="src")
    row_bytes = n * element_bytes(i)
    if total > 1:
        starts = (i.y_stride * np.arange(i.y_size, dtype=np.int64)[:, None]
                  + i.x_stride * np.arange(i.x_size, dtype=np.int64)[None, :]).ravel()
        starts.sort()
        if np.any(np.diff(starts) < row_bytes):
            raise FieldRangeError(
                f"elements of {row_bytes} bytes overlap in DRAM (y_stride = {i.y_stride}, "
                f"x_stride = {i.x_stride}): a byte would be written twice",
                index=index, opcode="STORE", field="x_stride")
    view = _dram_view(i, state, index, row_bytes)
    rows = state.memory(mem)[i.src:i.src + total, :n].reshape(i.y_size, i.x_size, n)
    if mem == "acc":
        rows = rows.astype("<i4", copy=False)
    view[...] = np.ascontiguousarray(rows).view(np.uint8).reshape(view.shape)
