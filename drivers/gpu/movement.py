"""Data movement on the device: Transpose and Concat as one-thread-per-element copy kernels.

Both map each flat output index to the flat index it copies from with literal
divisors and strides, so an attention block's head split and merge stay on the
device instead of crossing to the host.
"""

from __future__ import annotations

import numpy as np
from kiln.drivers.gpu.codegen import HEADER, compile_kernel, grid_1d
from kiln.errors import CompileError
from kiln.ir import Node


def transpose_order(node: Node, constants: dict) -> list[int]:
    """Return the axis order of a Transpose node (its constant ``order`` input; empty reverses)."""
    value = constants.get(node.inputs[1])
    if value is None:
        raise CompileError(f"node {node.name!r}: Transpose order must be constant on the GPU")
    rank = len(node.inputs[0].shape)
    order = [int(a) % rank for a in np.asarray(value).reshape(-1)] if np.size(value) else \
        list(range(rank))[::-1]
    if sorted(order) != list(range(rank)):
        raise CompileError(f"node {node.name!r}: Transpose order {order} is not a permutation of {rank} axes")
    return order


def concat_axis(node: Node) -> int:
    """Return the non-negative concatenation axis of a Concat node."""
    rank = len(node.output(0).shape)
    axis = int(node.attrs["axis"])
    if not -rank <= axis < rank:
        raise CompileError(f"node {node.name!r}: Concat axis {axis} out of range for rank {rank}")
    return axis % rank


class Transpose:
    """A compiled Transpose of a static tensor: ``run(x, out)`` on device arrays."""

    def __init__(self, node: Node, constants: dict):
        in_shape = [int(d) for d in node.inputs[0].shape]
        order = transpose_order(node, constants)
        out_shape = [in_shape[a] for a in order]
        in_strides = [int(np.prod(in_shape[d + 1:], dtype=np.int64)) for d in range(len(in_shape))]
        self.size = int(np.prod(out_shape, dtype=np.int64))
        terms = []
        inner = 1
        for d in range(len(out_shape) - 1, -1, -1):
            if out_shape[d] != 1:
                coord = f"(e // {inner})" if inner != 1 else "e"
                if inner * out_shape[d] != self.size:
                    coord = f"({coord} % {out_shape[d]})"
                terms.append(f"{coord} * {in_strides[order[d]]}")
            inner *= out_shape[d]
        source = "\n".join([
            HEADER, "@cuda.jit", "def kernel(x, out):", "    start = cuda.grid(1)",
            "    step = cuda.gridsize(1)", f"    for e in range(start, {self.size}, step):",
            f"        out[e] = x[{' + '.join(terms) or '0'}]", ""])
        self.kernel = compile_kernel(source)

    def run(self, x, out) -> None:
        blocks, threads = grid_1d(self.size)
        self.kernel[blocks, threads](x.reshape(x.size), out.reshape(out.size))


class Concat:
    """A compiled Concat of static tensors: ``run(inputs, out)`` on device arrays."""

    def __init__(self, node: Node):
        axis = concat_axis(node)
        out_shape = [int(d) for d in node.output(0).shape]
        self.size = int(np.prod(out_shape, dtype=np.int64))
        tail = int(np.prod(out_shape[axis + 1:], dtype=np.int64))
        widths = [int(p.shape[axis]) * tail for p in node.inputs]
        row = sum(widths)
        names = [f"x{i}" for i in range(len(widths))]
        lines = [HEADER, "@cuda.jit", f"def kernel(out, {', '.join(names)}):", "    start = cuda.grid(1)",
                 "    step = cuda.gridsize(1)", f"    for e in range(start, {self.size}, step):",
                 f"        o = e // {row}", f"        r = e % {row}"]
        begin = 0
        keyword = "if"
        for name, width in zip(names, widths):
            if width == 0:
                continue
            lines.append(f"        {keyword} r < {begin + width}:")
            lines.append(f"            out[e] = {name}[o * {width} + r - {begin}]")
            keyword = "elif"
            begin += width
        self.kernel = compile_kernel("\n".join(lines) + "\n")

    def run(self, inputs: list, out) -> None:
        blocks, threads = grid_1d(self.size)
        self.kernel[blocks, threads](out.reshape(out.size), *(x.reshape(x.size) for x in inputs))
