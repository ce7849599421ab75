"""2-D max and average pooling over NCHW tensors as parallel numba loops."""

from __future__ import annotations

import numba
import numpy as np
from kiln.drivers.cpu.convolution import valid_columns
from kiln.errors import CompileError
from kiln.ir import Node
from kiln.ir.ops.convolution import window_geometry


@numba.njit(cache=True, nogil=True, inline="always")
def _nan_max(a, b):
    """Return the larger of ``a`` and ``b``; NaN wins (as argmax in the reference picks it)."""
    return a if (a >= b or a != a) else b


@numba.njit(parallel=True, cache=True, nogil=True)
def max_pool(x, kh, kw, sh, sw, dh, dw, ph, pw, out):
    """Max over windows of ``x`` [N, C, H, W] into ``out`` [N, C, Ho, Wo] (f32); padding never wins.

    Separable: per output row, a vertical max over the window's input rows along the
    whole (contiguous) row, then a horizontal max over the kernel columns.
    """
    n, c, height, width = x.shape
    out_h, out_w = out.shape[2], out.shape[3]
    lo, hi = valid_columns(kw, dw, pw, sw, out_w, width)
    for job in numba.prange(n * c):
        xc = x[job // c, job % c]
        oc = out[job // c, job % c]
        column = np.empty(width, np.float32)
        acc = np.empty(out_w, np.float32)
        for oh in range(out_h):
            column[:] = np.float32(-np.inf)
            for i in range(kh):
                ih = oh * sh - ph + i * dh
                if ih < 0 or ih >= height:
                    continue
                xr = xc[ih]
                for q in range(width):
                    column[q] = _nan_max(column[q], xr[q])
            acc[:] = np.float32(-np.inf)
            for j in range(kw):
                a0 = lo[j]
                count = hi[j] - a0
                if count <= 0:
                    continue
                ac = acc[a0:a0 + count]
                xs = column[a0 * sw + j * dw - pw:]
                if sw == 1:
                    for t in range(count):
                        ac[t] = _nan_max(ac[t], xs[t])
                else:
                    for t in range(count):
                        ac[t] = _nan_max(ac[t], xs[t * sw])
            oc[oh, :] = acc


@numba.njit(parallel=True, cache=True, nogil=True)
def avg_pool(x, kh, kw, sh, sw, ph, pw, pe_h, pe_w, exclude_pad, out):
    """Mean over windows of ``x`` [N, C, H, W] into ``out`` (f32).

    With ``exclude_pad`` the divisor counts input cells only; otherwise it also
    counts the explicit padding (``ph``/``pw`` before, ``pe_h``/``pe_w`` after).
    The window is a rectangle, so the divisor is (rows counted) x (columns counted).
    """
    n, c, height, width = x.shape
    out_h, out_w = out.shape[2], out.shape[3]
    lo, hi = valid_columns(kw, 1, pw, sw, out_w, width)
    cols = np.empty(out_w, np.float32)
    for ow in range(out_w):
        w0 = ow * sw - pw
        if exclude_pad:
            cols[ow] = max(min(w0 + kw, width) - max(w0, 0), 0)
        else:
            cols[ow] = max(min(w0 + kw, width + pe_w) - max(w0, -pw), 0)
    for job in numba.prange(n * c):
        xc = x[job // c, job % c]
        oc = out[job // c, job % c]
        acc = np.empty(out_w, np.float32)
        for oh in range(out_h):
            h0 = oh * sh - ph
            if exclude_pad:
                rows = max(min(h0 + kh, height) - max(h0, 0), 0)
            else:
                rows = max(min(h0 + kh, height + pe_h) - max(h0, -ph), 0)
            acc[:] = 0.0
            for i in range(kh):
                ih = h0 + i
                if ih < 0 or ih >= height:
                    continue
                xr = xc[ih]
                for j in range(kw):
                    a0 = lo[j]
                    count = hi[j] - a0
                    if count <= 0:
                        continue
                    ac = acc[a0:a0 + count]
                    xs = xr[a0 * sw + j - pw:]
                    for t in range(count):
                        ac[t] += xs[t * sw]
            for ow in range(out_w):
                d = rows * cols[ow]
                oc[oh, ow] = acc[ow] / d if d > 0 else np.float32(0.0)


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

    def run(self, x: np.ndarray, out: np.ndarray) -> None:
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.strides, self.begins
        if self.kind == "MaxPool":
            max_pool(x, kh, kw, sh, sw, self.dilations[0], self.dilations[1], ph, pw, out)
        else:
            avg_pool(x, kh, kw, sh, sw, ph, pw, self.explicit_ends[0], self.explicit_ends[1],
                     self.exclude_pad, out)
