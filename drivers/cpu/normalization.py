"""Row-wise Softmax and MVN as parallel numba loops (the reduced axes are the trailing ones)."""

from __future__ import annotations

import math

import numba
import numpy as np
from kiln.errors import CompileError
from kiln.ir import Node


@numba.njit(parallel=True, cache=True, nogil=True)
def softmax_rows(x, out):
    """Softmax of each row of ``x`` [R, C] into ``out`` (f32), shifted by the row max."""
    rows, cols = x.shape
    for r in numba.prange(rows):
        m = x[r, 0]
        for c in range(1, cols):
            m = max(m, x[r, c])
        total = np.float32(0.0)
        for c in range(cols):
            e = np.float32(math.exp(x[r, c] - m))
            out[r, c] = e
            total += e
        inv = np.float32(1.0) / total
        for c in range(cols):
            out[r, c] *= inv


@numba.njit(parallel=True, cache=True, nogil=True)
def mvn_rows(x, normalize_variance, eps, inside_sqrt, out):
    """Mean-variance normalize each row of ``x`` [R, C] into ``out`` (f32; statistics in f64)."""
    rows, cols = x.shape
    for r in numba.prange(rows):
        total = 0.0
        for c in range(cols):
            total += x[r, c]
        mean = total / cols
        if normalize_variance:
            sq = 0.0
            for c in range(cols):
                d = x[r, c] - mean
                sq += d * d
            var = sq / cols
            scale = 1.0 / math.sqrt(var + eps) if inside_sqrt else 1.0 / (math.sqrt(var) + eps)
        else:
            scale = 1.0
        for c in range(cols):
            out[r, c] = np.float32((x[r, c] - mean) * scale)


def trailing_split(node: Node, axes: list[int]) -> int:
    """Return how many leading axes stay when ``axes`` are exactly the trailing ones; else raise."""
    rank = len(node.inputs[0].shape)
    axes = sorted(a % rank for a in axes)
    if not axes or axes != list(range(rank - len(axes), rank)):
        raise CompileError(f"node {node.name!r}: the CPU kernel reduces trailing axes only, got {axes}")
    return rank - len(axes)


class RowNormalization:
    """A compiled Softmax or MVN node over trailing axes: ``run(x, out)``."""

    def __init__(self, node: Node, constants: dict):
        shape = node.inputs[0].shape
        self.kind = node.type_name
        if self.kind == "Softmax":
            keep = trailing_split(node, [int(node.attrs["axis"])])
        else:
            axes = constants.get(node.inputs[1])
            if axes is None:
                raise CompileError(f"node {node.name!r}: MVN axes must be constant")
            keep = trailing_split(node, [int(a) for a in np.asarray(axes).reshape(-1)])
            self.normalize_variance = bool(node.attrs["normalize_variance"])
            self.eps = float(node.attrs["eps"])
            self.inside_sqrt = str(node.attrs["eps_mode"]).lower() == "inside_sqrt"
        rows = int(np.prod(shape[:keep], dtype=np.int64))
        self.rows_shape = (rows, int(np.prod(shape[keep:], dtype=np.int64)))
        if self.rows_shape[1] == 0 or rows == 0:
            raise CompileError(f"node {node.name!r}: empty rows")

    def run(self, x: np.ndarray, out: np.ndarray) -> None:
        x2 = np.ascontiguousarray(x).reshape(self.rows_shape)
        o2 = out.reshape(self.rows_shape)
        if self.kind == "Softmax":
            softmax_rows(x2, o2)
        else:
            mvn_rows(x2, self.normalize_variance, self.eps, self.inside_sqrt, o2)
