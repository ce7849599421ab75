"""The post-processing unit: VADD, VCLIP, VREQ and VPOOL on whole rows at once."""

from __future__ import annotations

import numpy as np
from kiln.hw.isa import Instruction
from kiln.sim.errors import FieldRangeError, check_rows
from kiln.sim.state import VpuState

_MEM = ("sp", "acc")


def _strided_rows(first: int, count: int, stride: int) -> np.ndarray:
    return first + stride * np.arange(count, dtype=np.int64)


def _distinct(i: Instruction, index: int, count: int, stride_field: str) -> None:
    if count > 1 and i[stride_field] == 0:
        raise FieldRangeError(f"{stride_field} = 0 with count = {count} writes one row twice",
                              index=index, opcode=i.opcode.name, field=stride_field)


def _disjoint(i: Instruction, index: int, written: np.ndarray, read: np.ndarray,
              field: str) -> None:
    if np.intersect1d(written, read).size:
        raise FieldRangeError("rows written overlap rows read by the same instruction",
                              index=index, opcode=i.opcode.name, field=field)


def _bounds(i: Instruction, index: int, lo: str, hi: str) -> tuple[int, int]:
    if i[lo] > i[hi]:
        raise FieldRangeError(f"{lo} = {i[lo]} > {hi} = {i[hi]}", index=index,
                              opcode=i.opcode.name, field=lo)
    return i[lo], i[hi]


def _check(rows: np.ndarray, state: VpuState, mem: str, i: Instruction, index: int,
           field: str) -> None:
    check_rows(int(rows.min()), int(rows.max()), state.depth(mem), mem, index=index,
               opcode=i.opcode.name, field=field)


def execute_vadd(i: Instruction, state: VpuState, index: int) -> None:
    """Add source rows (int32, or int8 sign-extended) to accumulator rows, wrapping."""
    _distinct(i, index, i.count, "dst_stride")
    src_mem = _MEM[i.src_mem]
    dst = _strided_rows(i.dst, i.count, i.dst_stride)
    src = _strided_rows(i.src, i.count, i.src_stride)
    _check(dst, state, "acc", i, index, "dst")
    _check(src, state, src_mem, i, index, "src")
    if src_mem == "acc":
        _disjoint(i, index, dst, src, "src")
    total = state.accumulator[dst].astype(np.int64) + state.memory(src_mem)[src]
    state.accumulator[dst] = total.astype(np.int32)


def execute_vclip(i: Instruction, state: VpuState, index: int) -> None:
    """Clamp accumulator rows in place to [lo, hi]."""
    _distinct(i, index, i.count, "dst_stride")
    lo, hi = _bounds(i, index, "lo", "hi")
    dst = _strided_rows(i.dst, i.count, i.dst_stride)
    _check(dst, state, "acc", i, index, "dst")
    state.accumulator[dst] = np.clip(state.accumulator[dst], lo, hi)


def requantize(x: np.ndarray, multiplier: np.ndarray, shift: np.ndarray, zero_point: int,
               lo: int, hi: int) -> np.ndarray:
    """Return int8 ``clamp(round_half_up(x * multiplier / 2**shift) + zero_point, lo, hi)``.

    ``x`` and ``multiplier`` are int32 (broadcast per lane), ``shift`` is 0..63; the
    product is exact in 64 bits and the rounding bit is taken from it directly.
    """
    p = x.astype(np.int64) * multiplier.astype(np.int64)
    s = shift.astype(np.int64)
    q = (p >> s) + np.where(s > 0, (p >> np.maximum(s - 1, 0)) & 1, 0)
    return np.clip(q + zero_point, lo, hi).astype(np.int8)


def execute_vreq(i: Instruction, state: VpuState, index: int) -> None:
    """Requantize accumulator rows to int8 scratchpad rows with per-lane parameters."""
    _distinct(i, index, i.count, "dst_stride")
    lo, hi = _bounds(i, index, "lo", "hi")
    check_rows(i.param, i.param + 1, state.config.acc_depth, "acc", index=index,
               opcode="VREQ", field="param")
    src = _strided_rows(i.src, i.count, i.src_stride)
    dst = _strided_rows(i.dst, i.count, i.dst_stride)
    _check(src, state, "acc", i, index, "src")
    _check(dst, state, "sp", i, index, "dst")
    multiplier = state.accumulator[i.param]
    shift = state.accumulator[i.param + 1] & 63
    state.scratchpad[dst] = requantize(state.accumulator[src], multiplier, shift,
                                       i.zero_point, lo, hi)


def pool_rows(i: Instruction) -> np.ndarray:
    """Return the source rows of a VPOOL, shape (count, win_h * win_w)."""
    n = _strided_rows(i.src, i.count, i.src_stride)
    wy = np.arange(i.win_h, dtype=np.int64) * i.win_stride_h
    wx = np.arange(i.win_w, dtype=np.int64) * i.win_stride_w
    return n[:, None] + (wy[:, None] + wx[None, :]).reshape(-1)[None, :]


def execute_vpool(i: Instruction, state: VpuState, index: int) -> None:
    """Reduce windows of rows by max or wrapping sum into accumulator or scratchpad rows."""
    _distinct(i, index, i.count, "dst_stride")
    src_mem, dst_mem = _MEM[i.src_mem], _MEM[i.dst_mem]
    src = pool_rows(i)
    dst = _strided_rows(i.dst, i.count, i.dst_stride)
    _check(src, state, src_mem, i, index, "src")
    _check(dst, state, dst_mem, i, index, "dst")
    if src_mem == dst_mem:
        _disjoint(i, index, dst, src.ravel(), "dst")
    window = state.memory(src_mem)[src]
    if i.mode == 0:
        result = window.max(axis=1).astype(np.int32)
    else:
        result = window.astype(np.int64).sum(axis=1).astype(np.int32)  # wraps at 32 bits
    if dst_mem == "sp":
        state.scratchpad[dst] = np.clip(result, -128, 127).astype(np.int8)
    else:
        state.accumulator[dst] = result
