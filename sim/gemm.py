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
from numpy.lib.stride_tricks import as_strided

#: Largest |int8 x int8| product: (-128) * (-128).
_MAX_PRODUCT = 128 * 128
_FLOAT32_EXACT = 1 << 24


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

    # Strided views instead of gathers: rows (o, i, k) of the scratchpad and (o, i) of the
    # accumulator are affine in the loop indices.
    sp, acc = state.scratchpad, state.accumulator
    row = sp.strides[0]
    inputs = as_strided(sp[i.inp:], shape=(i.o_count, i.i_count, i.k_count, dim),
                        strides=(i.o_inp_inc * row, i.i_inp_inc * row, i.k_inp_inc * row, 1),
                        writeable=False)
    reduction = i.k_count * dim
    ftype = np.float32 if reduction * _MAX_PRODUCT <= _FLOAT32_EXACT else np.float64
    a = inputs.astype(ftype).reshape(i.o_count * i.i_count, reduction)
    w = sp[i.wgt:i.wgt + reduction].astype(ftype)
    # |sum| <= 63 * 64 * 2**14 < 2**31: the exact product always fits int32.
    product = (a @ w).astype(np.int32).reshape(i.o_count, i.i_count, dim)
    target = as_strided(acc[i.acc:], shape=(i.o_count, i.i_count, dim),
                        strides=(i.o_acc_inc * acc.strides[0], acc.strides[0], acc.strides[1]))
    if i.accumulate:
        target += product  # int32 addition wraps modulo 2**32
    else:
        target[...] = product
