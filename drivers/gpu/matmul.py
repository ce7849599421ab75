"""MatMul on the GPU: one batched tiled GEMM launch with the epilogue fused.

A constant B is uploaded once, already transposed as the node asks, so its
tiles load with unit stride. When B has no batch dims and A is not transposed,
A's leading dims fold into M and the whole MatMul is one 2-D GEMM.
"""

from __future__ import annotations

import numpy as np
from kiln.drivers.fusion import Chain
from kiln.drivers.gpu.device import cuda
from kiln.drivers.gpu.gemm import TILE, Gemm, GemmLayout
from kiln.errors import CompileError
from kiln.ir import Node


def _batch_stride(batch: tuple[int, ...], out_batch: tuple[int, ...], matrix: int, node: Node) -> int:
    """Return the batch stride of an operand: its matrix size, or 0 when broadcast over the batch."""
    if int(np.prod(batch, dtype=np.int64)) == 1:
        return 0
    if (1,) * (len(out_batch) - len(batch)) + batch != out_batch:
        raise CompileError(f"node {node.name!r}: the GPU MatMul kernel broadcasts a whole batch only, "
                           f"not batch dims {batch} against {out_batch}")
    return matrix


def matmul_layout(node: Node, b_pretransposed: bool = False) -> GemmLayout:
    """Return the GEMM layout of a MatMul node with static rank >= 2 inputs.

    With ``b_pretransposed`` B is taken as already transposed when the node's
    ``transpose_b`` asks for it (a constant B stored that way).
    """
    a_shape, b_shape = (tuple(int(d) for d in p.shape) for p in node.inputs)
    if len(a_shape) < 2 or len(b_shape) < 2:
        raise CompileError(f"node {node.name!r}: the GPU MatMul kernel needs rank >= 2 inputs")
    out_batch = tuple(int(d) for d in node.output(0).shape[:-2])
    transpose_a = bool(node.attrs["transpose_a"])
    transpose_b = bool(node.attrs["transpose_b"]) and not b_pretransposed
    m, k = (a_shape[-1], a_shape[-2]) if transpose_a else (a_shape[-2], a_shape[-1])
    n = b_shape[-2] if bool(node.attrs["transpose_b"]) else b_shape[-1]
    a_row, a_col = (1, m) if transpose_a else (k, 1)
    b_row, b_col = (1, k) if transpose_b else (n, 1)
    a_batch = _batch_stride(a_shape[:-2], out_batch, m * k, node)
    b_batch = _batch_stride(b_shape[:-2], out_batch, k * n, node)
    batch = int(np.prod(out_batch, dtype=np.int64))
    if b_batch == 0 and not transpose_a and a_batch != 0:
        m, batch, a_batch = m * batch, 1, 0  # fold A's leading dims into M
    return GemmLayout(m, n, k, batch, a_batch, a_row, a_col, b_batch, b_row, b_col, m * n)


class MatMul:
    """A compiled MatMul node (rank >= 2 f32 operands, static shapes) with an epilogue ``chain``."""

    def __init__(self, node: Node, constants: dict, chain: Chain | None, tile: int = TILE):
        value = constants.get(node.inputs[1])
        self.b_const = None
        if value is not None:
            value = np.asarray(value, np.float32)
            if bool(node.attrs["transpose_b"]):
                value = np.swapaxes(value, -1, -2)
            self.b_const = np.ascontiguousarray(value).reshape(-1)
        self.gemm = Gemm(matmul_layout(node, self.b_const is not None), chain, tile)
        self.b_device = cuda().to_device(self.b_const) if self.b_const is not None else None

    def port_operands(self):
        """Return the runtime ports the fused epilogue reads."""
        return self.gemm.port_operands()

    def run(self, a, b, out, ports: list = ()) -> None:
        """Compute ``a @ b`` (+ epilogue) into ``out``; ``b`` is ignored when B is constant."""
        if self.b_device is not None:
            b = self.b_device
        self.gemm.run(_flat(a), _flat(b), _flat(out), ports=ports)


def _flat(array):
    return array.reshape(array.size) if len(array.shape) != 1 else array
