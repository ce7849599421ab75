"""Rearrange convolution/matmul weights into the GEMM's dim x dim weight tiles."""

from __future__ import annotations

import numpy as np


def pack_weight_tiles(w: np.ndarray, dim: int) -> np.ndarray:
    """Return int8 tiles [K-blocks][KH][KW][C-blocks][dim][dim] of ``w`` [KH, KW, C, K].

    Tile (kb, y, x, cb) row c, column j holds ``w[y, x, cb*dim + c, kb*dim + j]``
    (zero where the channel is past C or K): the layout GEMM reads, with the
    C-blocks of one kernel position adjacent so one GEMM's weight loop walks them.
    """
    kh, kw, c, k = w.shape
    cb, kb = -(-c // dim), -(-k // dim)
    padded = np.zeros((kh, kw, cb * dim, kb * dim), dtype=np.int8)
    padded[:, :, :c, :k] = w
    tiles = padded.reshape(kh, kw, cb, dim, kb, dim).transpose(4, 0, 1, 2, 3, 5)
    return np.ascontiguousarray(tiles)
