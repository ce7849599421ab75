"""2-D max and average pooling over NCHW tensors as parallel numba loops."""

from __future__ import annotations

import numba
import numpy as np
from kiln.drivers.cpu.reduction import row_reduction
from kiln.errors import CompileError
from kiln.ir import Node
from kiln.ir.ops.convolution import window_geometry


@numba.njit(cache=True, nogil=True, inline="always")
def _nan_max(a, b):
    """Return the larger of ``a`` and ``b``; NaN wins (as argmax in the reference picks it).

    Bitwise ``|``, not ``or``: no branch, so loops using it vectorize.
    """
    return a if (a >= b) | (a != a) else b


@numba.njit(cache=True, nogil=True, inline="always")
def _combine(a, b, is_max):
    return _nan_max(a, b) if is_max else a + b


@numba.njit(cache=True, nogil=True)
def _pool_rows(xc, oc, is_max, kh, kw, sh, sw, dh, dw, ph, pw, pad, line, phases):
    """Reduce the windows of one channel ``xc`` [H, W] into ``oc`` [Ho, Wo] (max, or sum for average).

    Per output row: a vertical reduction over the window's rows into ``line``, a padded
    row (``pw`` cells of ``pad`` before the input columns, ``pad`` after); for stride 2
    the line is split into its even and odd columns (``phases``), so that every tap of
    the horizontal reduction is a unit-stride read and all loops vectorize. ``pad`` is
    -inf for max and 0 for sum.
    """
    height, width = xc.shape
    out_h, out_w = oc.shape
    span = line.shape[0]
    for q in range(pw):
        line[q] = pad
    for q in range(pw + width, span):
        line[q] = pad
    body = line[pw:pw + width]
    half = span // 2
    even = phases[0, :half]
    odd = phases[1, :half]
    for oh in range(out_h):
        first = True
        for i in range(kh):
            ih = oh * sh - ph + i * dh
            if ih < 0 or ih >= height:
                continue
            xr = xc[ih]
            if first:
                for q in range(width):
                    body[q] = xr[q]
                first = False
            else:
                for q in range(width):
                    body[q] = _combine(body[q], xr[q], is_max)
        if first:
            for q in range(width):
                body[q] = pad
        orow = oc[oh]
        if sw == 1:
            for t in range(out_w):
                orow[t] = line[t]
            for j in range(1, kw):
                tap = line[j * dw:j * dw + out_w]
                for t in range(out_w):
                    orow[t] = _combine(orow[t], tap[t], is_max)
        elif sw == 2:
            for u in range(half):
                even[u] = line[2 * u]
                odd[u] = line[2 * u + 1]
            for t in range(out_w):
                orow[t] = even[t]
            for j in range(1, kw):
                offset = j * dw
                src = (odd if offset % 2 else even)[offset // 2:offset // 2 + out_w]
                for t in range(out_w):
                    orow[t] = _combine(orow[t], src[t], is_max)
        else:
            for t in range(out_w):
                acc = line[t * sw]
                for j in range(1, kw):
                    acc = _combine(acc, line[t * sw + j * dw], is_max)
                orow[t] = acc


@numba.njit(parallel=True, cache=True, nogil=True)
def _pool_planes(x, is_max, kh, kw, sh, sw, dh, dw, ph, pw, pad, threads, out):
    """Max (``is_max``) or sum over the windows of every plane of ``x`` [N, C, H, W] into ``out``.

    ``threads`` runs of channels each reuse one scratch row (see :func:`_pool_rows`).
    """
    n, c, height, width = x.shape
    out_w = out.shape[3]
    span = max((out_w - 1) * sw + (kw - 1) * dw + 1, pw + width) + 2
    jobs = n * c
    chunks = max(min(jobs, threads), 1)
    for chunk in numba.prange(chunks):  # one scratch row per thread, not per channel
        line = np.empty(span, np.float32)
        phases = np.empty((2, span // 2), np.float32)
        for job in range(jobs * chunk // chunks, jobs * (chunk + 1) // chunks):
            _pool_rows(x[job // c, job % c], out[job // c, job % c], is_max, kh, kw, sh, sw, dh, dw, ph, pw,
                       pad, line, phases)


@numba.njit(cache=True, nogil=True)
def max_pool(x, kh, kw, sh, sw, dh, dw, ph, pw, threads, out):
    """Max over windows of ``x`` [N, C, H, W] into ``out`` [N, C, Ho, Wo] (f32); padding never wins.

    ``threads`` runs of channels each reuse one scratch row.
    """
    _pool_planes(x, True, kh, kw, sh, sw, dh, dw, ph, pw, np.float32(-np.inf), threads, out)


@numba.njit(cache=True, nogil=True, inline="always")
def _window_cells(start, size, extent, pad_begin, pad_end, exclude_pad):
    """Return how many cells of a window [start, start+size) the average counts along one axis.

    Input cells only with ``exclude_pad``; otherwise also the explicit padding
    (``pad_begin`` before the ``extent`` input cells, ``pad_end`` after).
    """
    if exclude_pad:
        return max(min(start + size, extent) - max(start, 0), 0)
    return max(min(start + size, extent + pad_end) - max(start, -pad_begin), 0)


@numba.njit(parallel=True, cache=True, nogil=True)
def avg_pool(x, kh, kw, sh, sw, ph, pw, pe_h, pe_w, exclude_pad, threads, out):
    """Mean over windows of ``x`` [N, C, H, W] into ``out`` (f32).

    With ``exclude_pad`` the divisor counts input cells only; otherwise it also
    counts the explicit padding (``ph``/``pw`` before, ``pe_h``/``pe_w`` after).
    The window is a rectangle, so the divisor is (rows counted) x (columns counted).
    ``threads`` runs of channels each reuse one scratch row.
    """
    n, c, height, width = x.shape
    out_h, out_w = out.shape[2], out.shape[3]
    divisor = np.empty((out_h, out_w), np.float32)
    for oh in range(out_h):
        rows = _window_cells(oh * sh - ph, kh, height, ph, pe_h, exclude_pad)
        for ow in range(out_w):
            divisor[oh, ow] = rows * _window_cells(ow * sw - pw, kw, width, pw, pe_w, exclude_pad)
    _pool_planes(x, False, kh, kw, sh, sw, 1, 1, ph, pw, np.float32(0.0), threads, out)
    for job in numba.prange(n * c):
        oc = out[job // c, job % c]
        for oh in range(out_h):
            orow = oc[oh]
            drow = divisor[oh]
            for ow in range(out_w):
                orow[ow] = orow[ow] / drow[ow] if drow[ow] > 0 else np.float32(0.0)


class Pooling:
    """A compiled MaxPool/AvgPool node over a 4-D input: ``run(x, out)``."""

    def __init__(self, node: Node):
        shape = node.inputs[0].shape
        kernel = [int(k) for k in node.attrs["kernel"]]
        if len(shape) != 4 or len(kernel) != 2:
            raise CompileError(f"node {node.name!r}: the CPU pooling kernel handles 2-D pooling only")
        self.kind = node.type_name
        self.kernel = kernel
        self.strides = [int(s) for s in node.attrs.get("strides") or [1, 1]]
        self.dilations = [int(d) for d in node.attrs.get("dilations") or [1, 1]]
        self.begins, self.ends, _ = window_geometry(node, shape[2:], kernel)
        self.exclude_pad = bool(node.attrs.get("exclude-pad", False))
        if self.kind == "AvgPool":
            # the divisor counts explicit pads, not the extra end cells ceil rounding adds
            self.explicit_ends = [int(e) for e in node.attrs.get("pads_end") or [0, 0]]
            if str(node.attrs.get("auto_pad", "explicit")).lower() not in ("explicit", "notset", ""):
                self.explicit_ends = list(self.ends)

    def calls(self, x: np.ndarray, out: np.ndarray):
        """Return ``[(fn, args)]`` pooling ``x`` [N, C, H, W] into ``out`` (f32; None if not C-contiguous)."""
        if not (x.flags.c_contiguous and out.flags.c_contiguous):
            return None
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.strides, self.begins
        n, c, height, width = x.shape
        padded = any(list(self.begins) + list(self.ends))
        if (kh, kw) == (height, width) and out.shape[2:] == (1, 1) and not padded \
                and self.dilations == [1, 1]:  # one window over each whole plane: a row reduction
            return row_reduction("max" if self.kind == "MaxPool" else "mean", x.reshape(n * c, -1),
                                 out.reshape(-1))
        threads = numba.get_num_threads()
        if self.kind == "MaxPool":
            dh, dw = self.dilations
            return [(max_pool, (x, kh, kw, sh, sw, dh, dw, ph, pw, threads, out))]
        return [(avg_pool, (x, kh, kw, sh, sw, ph, pw, self.explicit_ends[0], self.explicit_ends[1],
                            self.exclude_pad, threads, out))]

    def run(self, x: np.ndarray, out: np.ndarray) -> None:
        """Pool ``x`` into ``out`` (``out`` C-contiguous)."""
        for fn, args in self.calls(np.ascontiguousarray(x), out):
            fn(*args)
