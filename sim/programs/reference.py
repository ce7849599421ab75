"""Straightforward numpy references for the example programs (the oracle, not fast).

These restate the ISA's arithmetic independently of the simulator's vectorised
units: exact Python-integer requantization, convolution as a sum of shifted
products, pooling over explicit windows.
"""

from __future__ import annotations

import numpy as np


def wrap_int32(x: np.ndarray) -> np.ndarray:
    """Return ``x`` (any integers) reduced modulo 2**32 into int32 (two's complement)."""
    x = np.asarray(x, dtype=np.int64)
    return ((x + (1 << 31)) % (1 << 32) - (1 << 31)).astype(np.int32)


def requantize_reference(x: np.ndarray, multiplier: np.ndarray, shift: np.ndarray,
                         zero_point: int, lo: int, hi: int) -> np.ndarray:
    """Return int8 ``clamp(floor(x * m / 2**s + 1/2) + zero_point, lo, hi)`` per channel.

    ``x`` has channels last; ``multiplier`` and ``shift`` are per channel. Computed
    with exact Python integers.
    """
    xs = np.asarray(x, dtype=np.int64).astype(object)
    m = np.asarray(multiplier, dtype=np.int64).astype(object)
    s = np.asarray(shift, dtype=np.int64)
    half = np.array([(1 << (int(v) - 1)) if v > 0 else 0 for v in s], dtype=object)
    div = np.array([1 << int(v) for v in s], dtype=object)
    q = (xs * m + half) // div
    return np.clip((q + zero_point).astype(np.int64), lo, hi).astype(np.int8)


def conv2d_reference(x: np.ndarray, w: np.ndarray, stride: int, pad: int) -> np.ndarray:
    """Return the int64 convolution of ``x`` [H, W, C] by ``w`` [KH, KW, C, K], zero padded."""
    h, wd, _ = x.shape
    kh, kw, _, k = w.shape
    xp = np.pad(x.astype(np.int64), ((pad, pad), (pad, pad), (0, 0)))
    oh = (h + 2 * pad - kh) // stride + 1
    ow = (wd + 2 * pad - kw) // stride + 1
    out = np.zeros((oh, ow, k), dtype=np.int64)
    for dy in range(kh):
        for dx in range(kw):
            patch = xp[dy:dy + stride * (oh - 1) + 1:stride, dx:dx + stride * (ow - 1) + 1:stride]
            out += patch @ w[dy, dx].astype(np.int64)
    return out


def pool_reference(x: np.ndarray, window: int, stride: int, mode: str) -> np.ndarray:
    """Return max or sum pooling (int64) of ``x`` [H, W, C] over square windows."""
    h, w, c = x.shape
    oh, ow = (h - window) // stride + 1, (w - window) // stride + 1
    out = np.zeros((oh, ow, c), dtype=np.int64)
    for y in range(oh):
        for z in range(ow):
            win = x[y * stride:y * stride + window, z * stride:z * stride + window].astype(np.int64)
            out[y, z] = win.max(axis=(0, 1)) if mode == "max" else win.sum(axis=(0, 1))
    return out
