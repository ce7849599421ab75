"""MatMul on the CPU: parallel BLAS sgemm, with constant right-hand sides pre-transposed."""

from __future__ import annotations

import numpy as np
from kiln.drivers.cpu.gemm import matmul, sgemm_call
from kiln.errors import CompileError
from kiln.ir import Node


class MatMul:
    """A compiled MatMul of rank >= 2 operands: ``run(a, b, out)`` writes ``a @ b`` into ``out``.

    A constant B is stored already transposed as the node asks; when B is 2-D
    and A is C-contiguous, A's leading dims are folded into one GEMM.
    """

    def __init__(self, node: Node, constants: dict):
        a, b = node.inputs
        if len(a.shape) < 2 or len(b.shape) < 2:
            raise CompileError(f"node {node.name!r}: the CPU MatMul kernel needs rank >= 2 inputs")
        self.transpose_a = bool(node.attrs["transpose_a"])
        self.transpose_b = bool(node.attrs["transpose_b"])
        self.b_const = None
        value = constants.get(b)
        if value is not None:
            value = np.asarray(value, np.float32)
            if self.transpose_b:
                value = np.swapaxes(value, -1, -2)
            self.b_const = np.ascontiguousarray(value)
        self.fold_rows = self.b_const is not None and self.b_const.ndim == 2 and not self.transpose_a

    def operands(self, a: np.ndarray, b: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Return the product's operands as views: ``a`` and ``b`` with the node's transposes applied."""
        if self.transpose_a:
            a = np.swapaxes(a, -1, -2)
        if self.b_const is not None:
            b = self.b_const
        elif self.transpose_b:
            b = np.swapaxes(b, -1, -2)
        return a, b

    def calls(self, a: np.ndarray, b: np.ndarray | None, out: np.ndarray, threads: int = 1):
        """Return ``[(fn, args)]`` computing ``a @ b`` into ``out`` (f32) by address, or None.

        None when a layout would need a copy (``out`` not C-contiguous, operands BLAS can't read).
        """
        a, b = self.operands(a, b)
        if not out.flags.c_contiguous:
            return None
        if self.fold_rows and a.flags.c_contiguous:
            call = sgemm_call(a.reshape(-1, a.shape[-1]), b, out.reshape(-1, out.shape[-1]), threads)
        elif a.ndim > 3 and a.shape[:-2] == b.shape[:-2] == out.shape[:-2]:
            folded = [x.reshape((-1,) + x.shape[-2:]) for x in (a, b, out)]
            # a reshape that had to copy returns a view of a temporary: the call would read freed memory
            views = all(np.may_share_memory(f, x) for f, x in zip(folded, (a, b, out)))
            call = sgemm_call(*folded, threads) if views else None
        else:
            call = sgemm_call(a, b, out, threads)
        return None if call is None else [call]

    def run(self, a: np.ndarray, b: np.ndarray | None, out: np.ndarray, threads: int = 1) -> None:
        """Compute ``a @ b`` into ``out`` (f32) with up to ``threads`` threads."""
        calls = self.calls(a, b, out, threads)
        if calls is None:
            matmul(*self.operands(a, b), out, threads)
            return
        for fn, args in calls:
            fn(*args)
