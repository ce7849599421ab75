"""Host-side tensor layouts of VPU buffers in DRAM.

Activations live in DRAM as int8 *channel-blocked* images ``[N][CG][H][W][dim]``
(``CG = ceil(C / dim)`` channel groups, missing channels zero): one pixel of one
channel group is one scratchpad row. Float results come back as int32
accumulators in the same blocking. Weights are ``dim`` x ``dim`` tiles whose row
``c`` holds the weights from input lane ``c`` to output lanes ``0..dim-1``.
"""

from __future__ import annotations

import numpy as np


def groups(channels: int, dim: int) -> int:
    """Return the number of ``dim``-lane channel groups that hold ``channels``."""
    return -(-channels // dim)


def to_blocked(x: np.ndarray, dim: int) -> np.ndarray:
    """Return NCHW ``x`` as ``[N][CG][H][W][dim]`` (channels padded with zeros)."""
    n, c, h, w = x.shape
    cg = groups(c, dim)
    padded = np.zeros((n, cg * dim, h, w), dtype=x.dtype)
    padded[:, :c] = x
    return np.ascontiguousarray(padded.reshape(n, cg, dim, h, w).transpose(0, 1, 3, 4, 2))


def from_blocked(blocked: np.ndarray, channels: int) -> np.ndarray:
    """Return the NCHW tensor of a ``[N][CG][H][W][dim]`` buffer, dropping padded channels."""
    n, cg, h, w, dim = blocked.shape
    return blocked.transpose(0, 1, 4, 2, 3).reshape(n, cg * dim, h, w)[:, :channels]


def quantize_activation(x: np.ndarray, scale: float) -> np.ndarray:
    """Return int8 ``clamp(round(x / scale), -128, 127)`` (FakeQuantize's grid, zero point 0)."""
    return np.clip(np.round(x.astype(np.float64) / scale), -128, 127).astype(np.int8)


def weight_tile(weights: np.ndarray, og: int, ig: int, ky: int, kx: int, dim: int) -> np.ndarray:
    """Return the ``dim`` x ``dim`` int8 tile of OIHW ``weights`` for (out group, in group, ky, kx).

    Row ``c`` (input lane) holds the weights to output lanes ``j``; channels past the
    tensor's edge are zero.
    """
    c_out, c_in = weights.shape[:2]
    tile = np.zeros((dim, dim), dtype=np.int8)
    o0, i0 = og * dim, ig * dim
    block = weights[o0:min(o0 + dim, c_out), i0:min(i0 + dim, c_in), ky, kx]  # [j, c]
    tile[:block.shape[1], :block.shape[0]] = block.T
    return tile
