"""Reductions over the trailing axes (ReduceSum/Mean/Max/Min, global pooling) as parallel row loops."""

from __future__ import annotations

import numba
import numpy as np
from kiln.drivers.cpu.normalization import trailing_split
from kiln.errors import CompileError
from kiln.ir import Node


@numba.njit(parallel=True, cache=True, nogil=True, fastmath={"reassoc", "contract"})
def sum_rows(x, scale, out):
    """``out[r] = scale * sum(x[r, :])`` for ``x`` [R, C] (f32); reassociated so the sum vectorizes."""
    for r in numba.prange(x.shape[0]):
        row = x[r]
        total = np.float32(0.0)
        for c in range(row.shape[0]):
            total += row[c]
        out[r] = total * scale


@numba.njit(parallel=True, cache=True, nogil=True)
def extreme_rows(x, is_max, out):
    """``out[r]`` = the max (``is_max``) or min of ``x[r, :]`` (f32); NaN wins, as in the reference."""
    for r in numba.prange(x.shape[0]):
        row = x[r]
        best = row[0]
        for c in range(1, row.shape[0]):
            v = row[c]
            better = (v > best) if is_max else (v < best)
            best = v if better | (v != v) else best  # once NaN, nothing compares better
        out[r] = best


KINDS = {"ReduceSum": "sum", "ReduceMean": "mean", "ReduceMax": "max", "ReduceMin": "min"}


class Reduction:
    """A compiled ReduceSum/Mean/Max/Min over the trailing axes of a static f32 tensor: ``calls(x, out)``."""

    def __init__(self, node: Node, constants: dict):
        axes = constants.get(node.inputs[1])
        if axes is None:
            raise CompileError(f"node {node.name!r}: the CPU reduction kernel needs constant axes")
        shape = node.inputs[0].shape
        keep = trailing_split(node, [int(a) for a in np.asarray(axes).reshape(-1)])
        self.kind = KINDS[node.type_name]
        self.rows_shape = tuple(int(np.prod(part, dtype=np.int64)) for part in (shape[:keep], shape[keep:]))
        if self.rows_shape[1] == 0:
            raise CompileError(f"node {node.name!r}: reduces an empty axis")

    def calls(self, x: np.ndarray, out: np.ndarray):
        """Return ``[(fn, args)]`` reducing the rows of ``x`` into ``out`` (None if not C-contiguous)."""
        if not (x.flags.c_contiguous and out.flags.c_contiguous):
            return None
        return row_reduction(self.kind, x.reshape(self.rows_shape), out.reshape(-1))

    def run(self, x: np.ndarray, out: np.ndarray) -> None:
        """Reduce ``x`` into ``out`` (``out`` C-contiguous)."""
        for fn, args in self.calls(np.ascontiguousarray(x), out):
            fn(*args)


def row_reduction(kind: str, rows: np.ndarray, out: np.ndarray) -> list[tuple]:
    """Return the call reducing each row of ``rows`` [R, C] into ``out`` [R]: sum, mean, max or min."""
    if kind in ("sum", "mean"):
        scale = np.float32(1.0 / rows.shape[1] if kind == "mean" else 1.0)
        return [(sum_rows, (rows, scale, out))]
    return [(extreme_rows, (rows, kind == "max", out))]
