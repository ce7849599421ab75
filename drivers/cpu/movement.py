"""Transpose on the CPU: a parallel copy into the step's planned buffer.

The reference ``np.transpose`` returns a strided view, and whatever reads it next
(often a Reshape, as in a channel shuffle) then copies it element by element.
Here axes that stay adjacent and in order are merged first, so a channel shuffle
``[1, g, C/g, H, W] -> [1, C/g, g, H, W]`` becomes a copy of ``C`` contiguous
``H*W`` planes in a new order. Transposes that move the last axis are left to the
reference: its strided view is what a MatMul reading a transposed operand wants.
"""

from __future__ import annotations

import numba
import numpy as np
from kiln.errors import CompileError
from kiln.ir import Node


@numba.njit(cache=True, nogil=True)
def _source_offset(index, shape, strides, axes):
    """Return the source offset of output position ``index`` over the first ``axes`` merged dims."""
    offset = 0
    for d in range(axes - 1, -1, -1):
        offset += (index % shape[d]) * strides[d]
        index //= shape[d]
    return offset


@numba.njit(parallel=True, cache=True, nogil=True)
def permute_copy(src, out, shape, strides, inner):
    """Copy ``src`` (flat f32) into ``out`` (flat) in output order.

    ``shape`` [d] are the output's merged dims, ``strides`` [d] the source element
    strides of each; the last dim (``inner`` elements) is contiguous in both.
    """
    rank = shape.shape[0]
    runs = out.shape[0] // inner
    for run in numba.prange(runs):
        offset = _source_offset(run, shape, strides, rank - 1)
        dest = out[run * inner:(run + 1) * inner]
        source = src[offset:offset + inner]
        for t in range(inner):
            dest[t] = source[t]


def merged_permutation(shape: tuple[int, ...], order: list[int]) -> tuple[list[int], list[int]]:
    """Return (output dims, their source element strides) with adjacent in-order axes merged.

    Axes of size 1 are dropped; runs of output axes that are consecutive source axes
    become one axis.
    """
    source_strides = [int(np.prod(shape[a + 1:], dtype=np.int64)) for a in range(len(shape))]
    axes = [a for a in order if shape[a] != 1]
    dims: list[int] = []
    strides: list[int] = []
    previous = None
    for a in axes:
        if previous is not None and a == previous + 1:
            dims[-1] *= shape[a]
            strides[-1] = source_strides[a]
        else:
            dims.append(int(shape[a]))
            strides.append(source_strides[a])
        previous = a
    return dims or [1], strides or [1]


class Transpose:
    """A compiled Transpose with a constant order over a static f32 tensor: ``calls(x, out)``."""

    def __init__(self, node: Node, constants: dict):
        order = constants.get(node.inputs[1])
        shape = tuple(int(d) for d in node.inputs[0].shape)
        if order is None:
            raise CompileError(f"node {node.name!r}: the CPU Transpose kernel needs a constant order")
        order = [int(a) % len(shape) for a in np.asarray(order).reshape(-1)] or list(range(len(shape)))[::-1]
        dims, strides = merged_permutation(shape, order)
        if strides[-1] != 1:  # element-by-element: the reference's strided view serves its readers better
            raise CompileError(f"node {node.name!r}: the CPU Transpose kernel keeps the last axis last")
        self.shape = np.array(dims, np.int64)
        self.strides = np.array(strides, np.int64)
        self.inner = dims[-1]

    def calls(self, x: np.ndarray, out: np.ndarray):
        """Return ``[(fn, args)]`` writing the transpose of ``x`` into ``out`` (None if not C-contiguous)."""
        if not (x.flags.c_contiguous and out.flags.c_contiguous):
            return None
        return [(permute_copy, (x.reshape(-1), out.reshape(-1), self.shape, self.strides, self.inner))]

    def run(self, x: np.ndarray, out: np.ndarray) -> None:
        """Write the transpose of ``x`` into ``out`` (``out`` C-contiguous)."""
        for fn, args in self.calls(np.ascontiguousarray(x), out):
            fn(*args)
