"""Convolution on the CPU: im2col + BLAS sgemm for dense/grouped, a direct loop for depthwise.

Layout is NCHW throughout: with weights as a ``[C_out, C_in*kh*kw]`` matrix and
the unfolded input as ``[C_in*kh*kw, H_out*W_out]``, one sgemm writes the NCHW
output of a sample directly, with no transpose before or after. 1x1 stride-1
convolutions skip the unfolding entirely (the input already is that matrix).
"""

from __future__ import annotations

import dataclasses

import numba
import numpy as np
from kiln.drivers.cpu.gemm import BLAS, gemm_parts, matmul, sgemm_call
from kiln.errors import CompileError
from kiln.ir import Node
from kiln.ir.ops.convolution import window_geometry


@numba.njit(parallel=True, cache=True, nogil=True)
def split_columns(x, phases):
    """Split the rows of ``x`` [C, H, W] (f32) into even and odd columns: ``phases`` [C, 2, H, ceil(W/2)].

    Both loads of an iteration read one pair of neighbours, so the loop vectorizes;
    a strided read of every other column would not.
    """
    c_in, height, width = x.shape
    half = width // 2
    for c in numba.prange(c_in):
        for r in range(height):
            src = x[c, r]
            even = phases[c, 0, r]
            odd = phases[c, 1, r]
            for u in range(half):
                even[u] = src[2 * u]
                odd[u] = src[2 * u + 1]
            if width % 2:
                even[half] = src[width - 1]


@numba.njit(parallel=True, cache=True, nogil=True)
def unfold(x, kh, kw, sh, sw, dh, dw, ph, pw, out_h, out_w, phases, cols):
    """Unfold ``x`` [C, H, W] (f32) into ``cols`` [C*kh*kw, out_h*out_w]; padding reads 0.

    With column stride 2, ``phases`` ([C, 2, H, ceil(W/2)], from :func:`split_columns`)
    holds the input's even and odd columns, so every row is a contiguous copy (the
    7x7 stride-2 stem of an ImageNet CNN unfolds 2.6x faster); with ``phases`` of width
    1 (kernels 1 wide) and other strides the rows are gathered from ``x``.
    """
    c_in, height, width = x.shape
    lo, hi = valid_columns(kw, dw, pw, sw, out_w, width)
    for row in numba.prange(c_in * kh * kw):
        c = row // (kh * kw)
        i = (row // kw) % kh
        j = row % kw
        a0 = lo[j]
        count = hi[j] - a0
        start = a0 * sw + j * dw - pw
        dest = cols[row]
        for oh in range(out_h):
            line = dest[oh * out_w:]  # element loops, not slice assignments: rows are short
            ih = oh * sh - ph + i * dh
            if ih < 0 or ih >= height or count <= 0:
                for t in range(out_w):
                    line[t] = 0.0
                continue
            for t in range(a0):
                line[t] = 0.0
            for t in range(a0 + count, out_w):
                line[t] = 0.0
            seg = line[a0:]
            if sw == 1:
                src = x[c, ih, start:]
                for t in range(count):
                    seg[t] = src[t]
            elif sw == 2 and phases.shape[3] > 1:
                src = phases[c, start % 2, ih, start // 2:]
                for t in range(count):
                    seg[t] = src[t]
            else:
                src = x[c, ih, start:]
                for t in range(count):
                    seg[t] = src[t * sw]


@numba.njit(parallel=True, cache=True, nogil=True)
def unfold_small(x, taps, cols):
    """Unfold ``x`` [C, H, W] (f32) into ``cols`` [C*T, P] through ``taps`` [T, P] (int64).

    ``taps[t, p]`` is the offset in a channel plane that tap t reads for output position
    p, or -1 for padding (reads 0). For small maps, where the rows of :func:`unfold` are
    a few elements long and its per-row work dominates (a 512x7x7 3x3 unfold: 1.9 ns per
    value), each unfolded row is one flat loop.
    """
    c_in = x.shape[0]
    plane = x.shape[1] * x.shape[2]
    n_taps, positions = taps.shape
    flat = x.reshape(c_in * plane)
    for row in numba.prange(c_in * n_taps):
        c = row // n_taps
        offsets = taps[row % n_taps]
        src = flat[c * plane:(c + 1) * plane]
        dest = cols[row]
        for p in range(positions):
            o = offsets[p]
            dest[p] = src[o] if o >= 0 else np.float32(0.0)


def tap_offsets(g, height: int, width: int) -> np.ndarray:
    """Return the [kh*kw, Ho*Wo] plane offsets each tap reads (-1: padding) for :func:`unfold_small`."""
    oh = np.arange(g.out_h)[:, None] * g.sh - g.ph
    ow = np.arange(g.out_w)[None, :] * g.sw - g.pw
    taps = np.empty((g.kh * g.kw, g.out_h * g.out_w), np.int64)
    for i in range(g.kh):
        for j in range(g.kw):
            ih, iw = np.broadcast_arrays(oh + i * g.dh, ow + j * g.dw)
            inside = (ih >= 0) & (ih < height) & (iw >= 0) & (iw < width)
            taps[i * g.kw + j] = np.where(inside, ih * width + iw, -1).reshape(-1)
    return taps


SMALL_MAP_WIDTH = 32
"""Convolutions with outputs narrower than this unfold through tap offsets (:func:`unfold_small`)."""


@numba.njit(cache=True, nogil=True)
def valid_columns(kw, dw, pw, sw, out_w, width):
    """Return, per kernel column j, the output columns [lo, hi) whose input column is inside the row."""
    lo = np.empty(kw, np.int64)
    hi = np.empty(kw, np.int64)
    for j in range(kw):
        off = j * dw - pw
        a = 0
        while a < out_w and a * sw + off < 0:
            a += 1
        z = out_w
        while z > a and (z - 1) * sw + off >= width:
            z -= 1
        lo[j] = a
        hi[j] = z
    return lo, hi


@numba.njit(inline="always")
def _activate(v, act, lo, hi):
    """Return ``v`` clamped to [lo, hi] when ``act`` (NaN stays NaN), else ``v``."""
    if act:
        if v < lo:
            return lo
        if v > hi:
            return hi
    return v


@numba.njit(parallel=True, cache=True, nogil=True)
def depthwise(x, w, sh, sw, dh, dw, ph, pw, bias, act, lo, hi, out):
    """Depthwise convolution: ``x`` [N, C, H, W], ``w`` [C*m, kh, kw] -> ``out`` [N, C*m, Ho, Wo] (f32).

    Output channel ``k`` reads input channel ``k // m`` (channel multiplier ``m``), then
    gets ``bias[k]`` added and, when ``act``, is clamped to [lo, hi] (ReLU: [0, inf]).
    Each output row accumulates in a local row; the inner loops run over slices that
    start at a non-negative offset so they vectorize (no negative-index wraparound).
    """
    n, c_in, height, width = x.shape
    c_out, kh, kw = w.shape
    mult = c_out // c_in
    out_h, out_w = out.shape[2], out.shape[3]
    lo32, hi32 = np.float32(lo), np.float32(hi)
    lo_cols, hi_cols = valid_columns(kw, dw, pw, sw, out_w, width)
    for job in numba.prange(n * c_out):
        b = job // c_out
        k = job % c_out
        xc = x[b, k // mult]
        oc = out[b, k]
        wk = w[k]
        bk = bias[k]
        acc = np.empty(out_w, np.float32)
        for oh in range(out_h):
            acc[:] = bk
            for i in range(kh):
                ih = oh * sh - ph + i * dh
                if ih < 0 or ih >= height:
                    continue
                xr = xc[ih]
                for j in range(kw):
                    a0 = lo_cols[j]
                    count = hi_cols[j] - a0
                    if count <= 0:
                        continue
                    wv = wk[i, j]
                    ac = acc[a0:a0 + count]
                    if sw == 1:
                        xs = xr[a0 + j * dw - pw:a0 + j * dw - pw + count]
                        for t in range(count):
                            ac[t] += wv * xs[t]
                    else:
                        xs = xr[a0 * sw + j * dw - pw:]
                        for t in range(count):
                            ac[t] += wv * xs[t * sw]
            orow = oc[oh]
            for t in range(out_w):
                orow[t] = _activate(acc[t], act, lo32, hi32)


@numba.njit(parallel=True, cache=True, nogil=True)
def depthwise_stride1(x, w, dh, dw, ph, pw, bias, act, lo, hi, threads, out):
    """Depthwise convolution with stride 1 (same contract as :func:`depthwise`).

    Each channel is copied into a zero-padded plane of row pitch ``wp``; every tap is
    then one long multiply-add over the flattened plane (outputs are computed on the
    padded width and the valid columns copied out), which vectorizes fully. ``threads``
    (numba's current thread count) runs of channels each reuse one plane, its borders
    zeroed once.
    """
    n, c_in, height, width = x.shape
    c_out, kh, kw = w.shape
    mult = c_out // c_in
    out_h, out_w = out.shape[2], out.shape[3]
    lo32, hi32 = np.float32(lo), np.float32(hi)
    wp = max(width + 2 * pw, out_w + (kw - 1) * dw)
    hp = max(height + 2 * ph, out_h + (kh - 1) * dh + 1)
    length = out_h * wp
    jobs = n * c_out
    chunks = max(min(jobs, threads), 1)
    for chunk in numba.prange(chunks):
        pad = np.zeros(hp * wp, np.float32)
        acc = np.empty(length, np.float32)
        for job in range(jobs * chunk // chunks, jobs * (chunk + 1) // chunks):
            b = job // c_out
            k = job % c_out
            xc = x[b, k // mult]
            for r in range(height):
                prow = pad[(r + ph) * wp + pw:]
                xr = xc[r]
                for c in range(width):
                    prow[c] = xr[c]
            bk = bias[k]
            for t in range(length):
                acc[t] = bk
            for i in range(kh):
                for j in range(kw):
                    wv = w[k, i, j]
                    src = pad[i * dh * wp + j * dw:i * dh * wp + j * dw + length]
                    for t in range(length):
                        acc[t] += wv * src[t]
            oc = out[b, k]
            for oh in range(out_h):
                orow = oc[oh]
                arow = acc[oh * wp:]
                for t in range(out_w):
                    orow[t] = _activate(arow[t], act, lo32, hi32)


@numba.njit(parallel=True, cache=True, nogil=True)
def depthwise3x3_stride1(x, w, ph, pw, bias, act, lo, hi, threads, out):
    """Depthwise 3x3 convolution, stride 1, dilation 1 (same contract as :func:`depthwise`).

    Each channel is copied into a zero-bordered plane (one per thread, borders zeroed
    once); each output row is then one loop over three plane rows holding all nine
    products in registers, with the bias and clamp applied on the way out. Four
    pointers per loop keep LLVM's alias checks within its limit, so the loop vectorizes
    (nine separate tap slices did not).
    """
    n, c_in, height, width = x.shape
    c_out = w.shape[0]
    mult = c_out // c_in
    out_h, out_w = out.shape[2], out.shape[3]
    lo32, hi32 = np.float32(lo), np.float32(hi)
    rows, cols = out_h + 2, out_w + 2
    r0, r1 = max(ph, 0), min(height + ph, rows)  # plane rows that hold input rows
    c0, c1 = max(pw, 0), min(width + pw, cols)
    jobs = n * c_out
    chunks = max(min(jobs, threads), 1)
    for chunk in numba.prange(chunks):
        plane = np.zeros((rows, cols), np.float32)
        for job in range(jobs * chunk // chunks, jobs * (chunk + 1) // chunks):
            b = job // c_out
            k = job % c_out
            xc = x[b, k // mult]
            for r in range(r0, r1):
                dest = plane[r, c0:c1]
                src = xc[r - ph, c0 - pw:c1 - pw]
                for t in range(c1 - c0):
                    dest[t] = src[t]
            w00, w01, w02 = w[k, 0, 0], w[k, 0, 1], w[k, 0, 2]
            w10, w11, w12 = w[k, 1, 0], w[k, 1, 1], w[k, 1, 2]
            w20, w21, w22 = w[k, 2, 0], w[k, 2, 1], w[k, 2, 2]
            bk = bias[k]
            oc = out[b, k]
            for oh in range(out_h):
                p0, p1, p2 = plane[oh], plane[oh + 1], plane[oh + 2]
                orow = oc[oh]
                for t in range(out_w):
                    v = (w00 * p0[t] + w01 * p0[t + 1] + w02 * p0[t + 2] + w10 * p1[t] + w11 * p1[t + 1]
                         + w12 * p1[t + 2] + w20 * p2[t] + w21 * p2[t + 1] + w22 * p2[t + 2] + bk)
                    orow[t] = _activate(v, act, lo32, hi32)


@numba.njit(parallel=True, cache=True, nogil=True)
def depthwise3x3(x, w, s, ph, pw, bias, act, lo, hi, threads, out):
    """Depthwise 3x3 convolution, stride ``s``, dilation 1 (same contract as :func:`depthwise`).

    Each channel is copied into ``s*s`` zero-padded phase planes of pitch ``wq``
    (plane ``(a, c)`` holds the padded input's rows ``R*s + a``, columns ``U*s + c``;
    one scratch per thread, borders zeroed once). Tap (i, j) of output (oh, t) is then
    plane ``(i % s, j % s)`` at flat index ``oh*wq + t`` plus a constant. For stride 2
    each output row is one loop over six phase rows holding all nine products in
    registers; for larger strides the channel is one loop over the flattened planes
    (pitch ``wq``), compacted afterwards with the bias and clamp. ``threads`` (numba's
    current thread count) runs of channels each reuse one scratch.
    """
    n, c_in, height, width = x.shape
    c_out = w.shape[0]
    mult = c_out // c_in
    out_h, out_w = out.shape[2], out.shape[3]
    lo32, hi32 = np.float32(lo), np.float32(hi)
    reach = 2 // s
    hq = max(out_h + reach + 1, (height - 1 + ph) // s + 1)
    wq = max(out_w + reach, (width - 1 + pw) // s + 1)
    plane = hq * wq
    length = out_h * wq
    offsets = np.empty(9, np.int64)
    for i in range(3):
        for j in range(3):
            offsets[i * 3 + j] = ((i % s) * s + j % s) * plane + (i // s) * wq + j // s
    o00, o01, o02, o10, o11, o12, o20, o21, o22 = (offsets[0], offsets[1], offsets[2], offsets[3],
                                                   offsets[4], offsets[5], offsets[6], offsets[7],
                                                   offsets[8])
    jobs = n * c_out
    chunks = max(min(jobs, threads), 1)
    for chunk in numba.prange(chunks):
        q = np.zeros(s * s * plane, np.float32)
        acc = np.empty(length, np.float32)
        for job in range(jobs * chunk // chunks, jobs * (chunk + 1) // chunks):
            b = job // c_out
            k = job % c_out
            xc = x[b, k // mult]
            for r in range(height):
                rr = r + ph
                row = ((rr % s) * s) * plane + (rr // s) * wq
                xr = xc[r]
                if s == 2:  # both columns of a pair in one iteration: the split vectorizes
                    first = q[row + (pw % 2) * plane + pw // 2:]
                    second = q[row + ((pw + 1) % 2) * plane + (pw + 1) // 2:]
                    for u in range(width // 2):
                        first[u] = xr[2 * u]
                        second[u] = xr[2 * u + 1]
                    if width % 2:
                        first[width // 2] = xr[width - 1]
                    continue
                for c0 in range(min(s, width)):
                    cc = c0 + pw
                    count = (width - c0 + s - 1) // s
                    dest = q[row + (cc % s) * plane + cc // s:]
                    src = xr[c0:]
                    for u in range(count):
                        dest[u] = src[u * s]
            w00, w01, w02 = w[k, 0, 0], w[k, 0, 1], w[k, 0, 2]
            w10, w11, w12 = w[k, 1, 0], w[k, 1, 1], w[k, 1, 2]
            w20, w21, w22 = w[k, 2, 0], w[k, 2, 1], w[k, 2, 2]
            bk = bias[k]
            oc = out[b, k]
            if s == 2:  # six phase rows per output row: few enough pointers for the loop to vectorize
                for oh in range(out_h):
                    e0 = q[oh * wq:(oh + 1) * wq + 1]
                    d0 = q[plane + oh * wq:plane + (oh + 1) * wq + 1]
                    e1 = q[2 * plane + oh * wq:2 * plane + (oh + 1) * wq + 1]
                    d1 = q[3 * plane + oh * wq:3 * plane + (oh + 1) * wq + 1]
                    e2 = q[(oh + 1) * wq:(oh + 2) * wq + 1]
                    d2 = q[plane + (oh + 1) * wq:plane + (oh + 2) * wq + 1]
                    orow = oc[oh]
                    for t in range(out_w):
                        v = (w00 * e0[t] + w01 * d0[t] + w02 * e0[t + 1] + w10 * e1[t] + w11 * d1[t]
                             + w12 * e1[t + 1] + w20 * e2[t] + w21 * d2[t] + w22 * e2[t + 1] + bk)
                        orow[t] = _activate(v, act, lo32, hi32)
                continue
            q00, q01, q02 = q[o00:o00 + length], q[o01:o01 + length], q[o02:o02 + length]
            q10, q11, q12 = q[o10:o10 + length], q[o11:o11 + length], q[o12:o12 + length]
            q20, q21, q22 = q[o20:o20 + length], q[o21:o21 + length], q[o22:o22 + length]
            for e in range(length):
                acc[e] = (w00 * q00[e] + w01 * q01[e] + w02 * q02[e] + w10 * q10[e] + w11 * q11[e]
                          + w12 * q12[e] + w20 * q20[e] + w21 * q21[e] + w22 * q22[e])
            for oh in range(out_h):
                orow = oc[oh]
                arow = acc[oh * wq:oh * wq + out_w]
                for t in range(out_w):
                    orow[t] = _activate(arow[t] + bk, act, lo32, hi32)


@numba.njit(parallel=True, cache=True, nogil=True)
def shifted_gemms(kernel, x, w_taps, taps, ph, pw, plane, acc, parts, out):
    """Stride-1 convolution of one sample by shifted GEMMs (f32), in ``parts`` threads.

    ``x`` [C_in, H, W] is copied into ``plane`` [C_in, hp, wp], zero-padded (row pitch
    ``wp``); for each tap t at flat offset ``taps[t]``, ``acc += w_taps[t] @
    plane_flat[:, taps[t]:][:, :Ho*wp]`` (a strided operand, no copy; ``kernel`` is
    :attr:`~kiln.drivers.cpu.gemm.PrivateBlas.kernel`). ``acc`` [C_out, Ho*wp] holds the
    output on the padded width; ``out`` [C_out, Ho, Wo] receives its valid columns. Each
    thread owns a block of output channels.
    """
    c_in, height, width = x.shape
    hp, wp = plane.shape[1], plane.shape[2]
    c_out, out_h, out_w = out.shape
    length = out_h * wp
    for c in numba.prange(c_in):
        pc = plane[c]
        pc[:, :] = 0.0
        for r in range(height):
            pc[r + ph, pw:pw + width] = x[c, r]
    flat = plane.ctypes.data
    for part in numba.prange(parts):
        lo = c_out * part // parts
        hi = c_out * (part + 1) // parts
        for t in range(taps.shape[0]):
            kernel(101, 111, 111, hi - lo, length, c_in, 1.0, w_taps[t, lo:].ctypes.data, c_in,
                   flat + taps[t] * 4, hp * wp, 0.0 if t == 0 else 1.0, acc[lo:].ctypes.data, length)
        for k in range(lo, hi):
            for oh in range(out_h):
                out[k, oh, :] = acc[k, oh * wp:oh * wp + out_w]


@dataclasses.dataclass
class ConvGeometry:
    """Static geometry of a 2-D convolution (NCHW): kernel, strides, dilations, begin pads."""

    groups: int
    c_in: int
    c_out: int
    kh: int
    kw: int
    sh: int
    sw: int
    dh: int
    dw: int
    ph: int
    pw: int
    out_h: int
    out_w: int


def geometry(node: Node, weights_shape: tuple[int, ...]) -> ConvGeometry:
    """Return the geometry of a 2-D Convolution/GroupConvolution node; CompileError if not 2-D."""
    x_shape, y_shape = node.inputs[0].shape, node.output(0).shape
    if len(x_shape) != 4:
        raise CompileError(f"node {node.name!r}: the CPU kernel handles 2-D convolution only")
    grouped = node.type_name == "GroupConvolution"
    groups = weights_shape[0] if grouped else 1
    kh, kw = weights_shape[-2:]
    strides = [int(s) for s in node.attrs.get("strides") or [1, 1]]
    dilations = [int(d) for d in node.attrs.get("dilations") or [1, 1]]
    pads, _, _ = window_geometry(node, x_shape[2:], (kh, kw))
    c_out = weights_shape[0] * weights_shape[1] if grouped else weights_shape[0]
    return ConvGeometry(groups, x_shape[1], c_out, kh, kw, strides[0], strides[1], dilations[0],
                        dilations[1], pads[0], pads[1], y_shape[2], y_shape[3])


class Convolution:
    """A compiled convolution: ``run(x, out)`` writes the NCHW result into ``out``.

    ``weights`` is the OpenVINO layout: [C_out, C_in, kh, kw] for Convolution,
    [G, C_out/G, C_in/G, kh, kw] for GroupConvolution. ``scale`` (per output
    channel) given to :meth:`scale_weights` is folded into the weights.
    """

    def __init__(self, node: Node, weights: np.ndarray):
        g = geometry(node, weights.shape)
        self.g = g
        w = np.asarray(weights, np.float32).reshape(g.c_out, -1, g.kh, g.kw)
        self.depthwise = g.groups > 1 and w.shape[1] == 1 and g.c_out % g.c_in == 0 \
            and g.groups == g.c_in
        if self.depthwise:
            self.w = np.ascontiguousarray(w.reshape(g.c_out, g.kh, g.kw))
            self.bias = np.zeros(g.c_out, np.float32)
            self.clamp: tuple[float, float] | None = None
        else:
            self.w = np.ascontiguousarray(w.reshape(g.groups, g.c_out // g.groups, -1))
        self.in_height, self.in_width = (int(d) for d in node.inputs[0].shape[2:])
        self.pointwise = (g.kh == g.kw == 1 and g.sh == g.sw == 1 and g.ph == g.pw == 0)
        small = not (self.depthwise or self.pointwise) and g.out_w < SMALL_MAP_WIDTH
        self.taps_small = tap_offsets(g, self.in_height, self.in_width) if small else None
        # 1x1 stride 2 reads a quarter of the input: gathers beat splitting it
        self.split = g.sw == 2 and g.kw > 1 and not small
        self.cols_shape = (w.shape[1] * g.kh * g.kw, g.out_h * g.out_w)
        # stride-1 KxK on maps of 14x14 and up with 64+ input channels: K*K shifted GEMMs beat
        # im2col (measured); with fewer channels each shifted GEMM is too thin. They call the
        # private BLAS from numba, so without it (KILN_PRIVATE_BLAS=0) im2col runs instead.
        self.shifted = (BLAS is not None and not self.depthwise and not self.pointwise and g.groups == 1
                        and g.sh == g.sw == 1 and g.out_h >= SHIFTED_MIN_SIDE and g.out_w >= SHIFTED_MIN_SIDE
                        and g.c_in >= SHIFTED_MIN_CHANNELS)
        if self.shifted:
            height, width = node.inputs[0].shape[2:]
            self.wp = max(width + g.pw, g.out_w + (g.kw - 1) * g.dw)
            self.hp = max(height + g.ph, g.out_h + (g.kh - 1) * g.dh) + 1
            self.w_taps = np.ascontiguousarray(w.transpose(2, 3, 0, 1).reshape(g.kh * g.kw, g.c_out, g.c_in))
            self.taps = np.array([i * g.dh * self.wp + j * g.dw for i in range(g.kh) for j in range(g.kw)],
                                 np.int64)

    def scale_weights(self, scale: np.ndarray) -> None:
        """Multiply output channel ``k`` of the weights by ``scale[k]`` (a folded BatchNorm/Multiply)."""
        scale = np.asarray(scale, np.float32)
        if self.depthwise:
            self.w = np.ascontiguousarray(self.w * scale[:, None, None])
            return
        self.w = np.ascontiguousarray(self.w * scale.reshape(self.w.shape[0], -1, 1))
        if self.shifted:
            self.w_taps = np.ascontiguousarray(self.w_taps * scale[None, :, None])

    def fuse_bias_clamp(self, bias: np.ndarray, clamp: tuple[float, float] | None) -> None:
        """Depthwise only: add ``bias`` [C_out] to each output channel, then clamp to ``clamp`` (lo, hi)."""
        if not self.depthwise:
            raise CompileError("only the depthwise kernel applies a bias and clamp itself")
        self.bias = np.ascontiguousarray(self.bias + np.asarray(bias, np.float32))
        self.clamp = clamp

    @property
    def workspace_bytes(self) -> int:
        """Bytes of scratch (unfolded or padded input, accumulator) one call needs; 0 when none."""
        if self.depthwise or self.pointwise:
            return 0
        if self.shifted:
            return (self.g.c_in * self.hp * self.wp + self.g.c_out * self.g.out_h * self.wp) * 4
        return (self.cols_shape[0] * self.cols_shape[1] + self.phases_size) * 4

    @property
    def phases_size(self) -> int:
        """Floats of the even/odd column split of one group's input (0 unless :attr:`split`)."""
        if not self.split:
            return 0
        return self.g.c_in // self.g.groups * 2 * self.in_height * ((self.in_width + 1) // 2)

    def calls(self, x: np.ndarray, out: np.ndarray, workspace: np.ndarray | None, threads: int = 1):
        """Return the kernel calls ``[(fn, args), ...]`` that compute the convolution of ``x`` into ``out``.

        ``x`` [N, C_in, H, W] and ``out`` [N, C_out, Ho, Wo] are f32; ``workspace`` holds at least
        :attr:`workspace_bytes`; up to ``threads`` threads. The calls read the arrays by address
        and stay valid while they live. None when ``x`` or ``out`` is not C-contiguous.
        """
        if not (x.flags.c_contiguous and out.flags.c_contiguous):
            return None
        g = self.g
        if self.depthwise:
            act = self.clamp is not None
            lo, hi = self.clamp if act else (0.0, 0.0)
            if g.kh == g.kw == 3 and g.dh == g.dw == 1 and g.sh == g.sw and g.sh > 1:
                return [(depthwise3x3, (x, self.w, g.sh, g.ph, g.pw, self.bias, act, lo, hi, threads, out))]
            if g.kh == g.kw == 3 and g.dh == g.dw == 1 and g.sh == g.sw == 1:
                return [(depthwise3x3_stride1, (x, self.w, g.ph, g.pw, self.bias, act, lo, hi, threads, out))]
            if g.sh == g.sw == 1:
                return [(depthwise_stride1,
                         (x, self.w, g.dh, g.dw, g.ph, g.pw, self.bias, act, lo, hi, threads, out))]
            return [(depthwise, (x, self.w, g.sh, g.sw, g.dh, g.dw, g.ph, g.pw, self.bias, act, lo, hi, out))]
        if self.shifted:
            plane_size = g.c_in * self.hp * self.wp
            plane = workspace[:plane_size].reshape(g.c_in, self.hp, self.wp)
            acc = workspace[plane_size:plane_size + g.c_out * g.out_h * self.wp].reshape(g.c_out, -1)
            flops = 2 * g.c_out * g.c_in * len(self.taps) * g.out_h * self.wp
            parts = min(gemm_parts(flops, threads), max(g.c_out // 16, 1))
            return [(shifted_gemms, (BLAS.kernel, x[b], self.w_taps, self.taps, g.ph, g.pw, plane, acc, parts,
                                     out[b])) for b in range(x.shape[0])]
        cig, cog = g.c_in // g.groups, g.c_out // g.groups
        k_dim, hw = self.cols_shape
        calls = []
        for b in range(x.shape[0]):
            if self.pointwise:  # the input already is the [C_in, H*W] matrix: one GEMM per group
                src, dst = x[b].reshape(g.groups, cig, hw), out[b].reshape(g.groups, cog, hw)
                calls.append(sgemm_call(self.w, src, dst, threads) or (matmul, (self.w, src, dst, threads)))
                continue
            cols = workspace[:k_dim * hw].reshape(k_dim, hw)
            phases = workspace[k_dim * hw:k_dim * hw + self.phases_size].reshape(
                cig, 2, self.in_height, (self.in_width + 1) // 2) if self.split else _NO_PHASES
            for k in range(g.groups):
                group = x[b, k * cig:(k + 1) * cig]
                if self.taps_small is not None:
                    calls.append((unfold_small, (group, self.taps_small, cols)))
                else:
                    if self.split:
                        calls.append((split_columns, (group, phases)))
                    calls.append((unfold, (group, g.kh, g.kw, g.sh, g.sw, g.dh, g.dw, g.ph, g.pw, g.out_h,
                                           g.out_w, phases, cols)))
                dst = out[b, k * cog:(k + 1) * cog].reshape(cog, hw)
                w = self.w[k]
                calls.append(sgemm_call(w, cols, dst, threads) or (matmul, (w, cols, dst, threads)))
        return calls

    def run(self, x: np.ndarray, out: np.ndarray, workspace: np.ndarray | None, threads: int = 1) -> None:
        """Compute the convolution of ``x`` into ``out`` (see :meth:`calls`; ``out`` C-contiguous)."""
        x = np.ascontiguousarray(x)
        for fn, args in self.calls(x, out, workspace, threads):
            fn(*args)


_NO_PHASES = np.empty((1, 2, 1, 1), np.float32)
"""The ``phases`` argument of :func:`unfold` when the input is not split: rows are gathered from ``x``."""

SHIFTED_MIN_SIDE = 14
SHIFTED_MIN_CHANNELS = 64
"""Stride-1 convolutions with outputs at least SHIFTED_MIN_SIDE wide and high and at least
SHIFTED_MIN_CHANNELS input channels use shifted GEMMs."""
