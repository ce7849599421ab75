"""Row-wise Softmax and MVN as parallel numba loops (the reduced axes are the trailing ones)."""

from __future__ import annotations

import math

import numba
import numpy as np
from kiln.errors import CompileError
from kiln.ir import Node


@numba.njit(cache=True, nogil=True, fastmath={"reassoc", "nsz", "nnan"})
def _row_max(a):
    """Return the largest value of ``a`` (vectorized; a NaN in ``a`` makes the softmax row NaN anyway)."""
    m = a[0]
    for c in range(1, a.shape[0]):
        m = max(m, a[c])
    return m


@numba.njit(cache=True, nogil=True, fastmath={"reassoc", "nsz"})
def _row_sum(a):
    """Return the sum of ``a`` (f32, vectorized: reassociated partial sums; NaN and inf propagate)."""
    total = np.float32(0.0)
    for c in range(a.shape[0]):
        total += a[c]
    return total


EXP_MIN = np.float32(-87.33654)
"""Below this, exp(x) in f32 is 0 or subnormal: :func:`softmax_rows` writes 0."""


@numba.njit(parallel=True, cache=True, nogil=True)
def softmax_rows(x, threads, out):
    """Softmax of each row of ``x`` [R, C] into ``out`` (f32), shifted by the row max.

    exp(t), t = x - max <= 0, is computed so that it vectorizes: t = n*ln2 + r with
    |r| <= ln2/2, a degree-7 polynomial for exp(r) (Cephes expf, about 1 ulp), and
    2^n built from its exponent bits in an int32 row viewed as f32; t < EXP_MIN gives 0.
    ``threads`` runs of rows each reuse one scratch row.
    """
    rows, cols = x.shape
    chunks = max(min(rows, threads), 1)
    for chunk in numba.prange(chunks):  # one exponent row per thread: an allocation per row cost more
        bits = np.empty(cols, np.int32)
        for r in range(rows * chunk // chunks, rows * (chunk + 1) // chunks):
            _softmax_row(x[r], out[r], bits)


@numba.njit(cache=True, nogil=True)
def _softmax_row(xr, orow, bits):
    """Softmax of one row ``xr`` into ``orow``; ``bits`` is int32 scratch of the row's length."""
    cols = xr.shape[0]
    m = _row_max(xr)
    for c in range(cols):
        d = xr[c] - m
        t = EXP_MIN if d < EXP_MIN else d  # NaN stays NaN
        n = math.floor(t * np.float32(1.4426950408889634) + np.float32(0.5))
        f = t - n * np.float32(0.693359375) - n * np.float32(-2.12194440e-4)
        p = np.float32(1.9875691500e-4) * f + np.float32(1.3981999507e-3)
        p = p * f + np.float32(8.3334519073e-3)
        p = p * f + np.float32(4.1665795894e-2)
        p = p * f + np.float32(1.6666665459e-1)
        p = p * f + np.float32(5.0000001201e-1)
        orow[c] = p * f * f + f + np.float32(1.0)
        bits[c] = (np.int32(n) + np.int32(127)) << np.int32(23)
    scale = bits.view(np.float32)
    for c in range(cols):
        orow[c] = np.float32(0.0) if xr[c] - m < EXP_MIN else orow[c] * scale[c]
    inv = np.float32(1.0) / _row_sum(orow)
    for c in range(cols):
        orow[c] *= inv


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

    def calls(self, x: np.ndarray, out: np.ndarray):
        """Return ``[(fn, args)]`` normalizing the rows of ``x`` into ``out`` (None if not C-contiguous)."""
        if not (x.flags.c_contiguous and out.flags.c_contiguous):
            return None
        x2, o2 = x.reshape(self.rows_shape), out.reshape(self.rows_shape)
        if self.kind == "Softmax":
            return [(softmax_rows, (x2, numba.get_num_threads(), o2))]
        return [(mvn_rows, (x2, self.normalize_variance, self.eps, self.inside_sqrt, o2))]

    def run(self, x: np.ndarray, out: np.ndarray) -> None:
        """Normalize the rows of ``x`` into ``out`` (``out`` C-contiguous)."""
        for fn, args in self.calls(np.ascontiguousarray(x), out):
            fn(*args)
