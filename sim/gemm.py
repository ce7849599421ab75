"""GEMM: the systolic array's matrix multiply, vectorised over the instruction's loop nest.

The whole (k, o, i) loop nest of one instruction becomes one matrix product:
the input rows of every (o, i) for all k side by side (``k_count * dim``
columns) times the ``k_count`` weight tiles stacked (``k_count * dim`` rows). The
product runs in float32 when every partial sum is below 2**24 (exact), in
float64 otherwise (exact below 2**53), and is wrapped to int32 afterwards;
modular addition makes this equal to accumulating product by product with
32-bit wraparound.
"""

from __future__ import annotations

import numpy as np
from kiln.hw.isa import Instruction
from kiln.sim.errors import FieldRangeError, check_rows
from kiln.sim.state import VpuState

#: Largest |int8 x int8| product: (-128) * (-128).
_MAX_PRODUCT = 128 * 128
_FLOAT32_EXACT = 1 << 24


def gemm_rows(i: Instruction, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (input rows of shape (o*i, k), accumulator rows of shape (o*i,)) of a GEMM."""
    k = np.arange(i.k_count, dtype=np.int64) * i.k_inp_inc
    o = np.arange(i.o_count, dtype=np.int64)
    n = np.arange(i.i_count, dtype=np.int64)
    outer = (o[:, None] * i.o_inp_inc + n[None, :] * i.i_inp_inc).reshape(-1)
    inputs = i.inp + outer[:, None] + k[None, :]
    acc = (i.acc + o[:, None] * i.o_acc_inc + n[None, :]).reshape(-1)
    return inputs, acc


def execute_gemm(i: Instruction, state: VpuState, index: int) -> None:
    """Run one GEMM instruction on the scratchpad and accumulator, as GEMM specifies."""
    c = state.config
    dim = c.dim
    if i.o_count > 1 and i.o_acc_inc < i.i_count:
        raise FieldRangeError(
            f"o_acc_inc = {i.o_acc_inc} < i_count = {i.i_count}: accumulator rows of "
            "different (o, i) would coincide", index=index, opcode="GEMM", field="o_acc_inc")
    last_inp = (i.inp + (i.k_count - 1) * i.k_inp_inc + (i.o_count - 1) * i.o_inp_inc
                + (i.i_count - 1) * i.i_inp_inc)
    check_rows(i.inp, last_inp, c.sp_depth, "sp", index=index, opcode="GEMM", field="inp")
    check_rows(i.wgt, i.wgt + i.k_count * dim - 1, c.sp_depth, "sp", index=index,
               opcode="GEMM", field="wgt")
    last_acc = i.acc + (i.o_count - 1) * i.o_acc_inc + i.i_count - 1
    check_rows(i.acc, last_acc, c.acc_depth, "acc", index=index, opcode="GEMM", field="acc")

    inputs, acc_rows = gemm_rows(i, dim)
    reduction = i.k_count * dim
    ftype = np.float32 if reduction * _MAX_PRODUCT <= _FLOAT32_EXACT else np.float64
    a = state.scratchpad[inputs].reshape(len(acc_rows), reduction).astype(ftype)
    w = state.scratchpad[i.wgt:i.wgt + reduction].astype(ftype)
    product = (a @ w).astype(np.int64)
    if i.accumulate:
        product += state.accumulator[acc_rows]
    state.accumulator[acc_rows] = product.astype(np.int32)
