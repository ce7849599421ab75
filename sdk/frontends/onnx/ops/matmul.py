"""ONNX MatMul, Gemm, Einsum and MatMulInteger."""

from __future__ import annotations

import numpy as np
from kiln.frontends.onnx.registry import onnx_op
from kiln.ir import ElementType


@onnx_op("MatMul")
def matmul(ctx):
    return ctx.make("MatMul", ctx.input(0), ctx.input(1))


@onnx_op("Gemm", since=7)
def gemm(ctx):
    """``alpha * A' B' + beta * C`` as MatMul (with transposes), Multiply and Add."""
    a, b, c = ctx.input(0), ctx.input(1), ctx.optional_input(2)
    for name, port in (("A", a), ("B", b)):
        if port.shape is not None and len(port.shape) != 2:
            raise ctx.unsupported(f"input {name} must be 2-D, got shape {list(port.shape)}")
    y = ctx.make("MatMul", a, b, transpose_a=bool(ctx.attr("transA", 0)),
                 transpose_b=bool(ctx.attr("transB", 0)))
    dtype = y.element_type.numpy
    alpha, beta = float(ctx.attr("alpha", 1.0)), float(ctx.attr("beta", 1.0))
    if alpha != 1.0:
        y = ctx.make("Multiply", y, ctx.const(alpha, dtype))
    if c is None or beta == 0.0:
        return y
    if beta != 1.0:
        value = c.constant_value()
        c = ctx.const(value * dtype.type(beta)) if value is not None else \
            ctx.make("Multiply", c, ctx.const(beta, dtype))
    return ctx.make("Add", y, c)


@onnx_op("Einsum", since=12)
def einsum(ctx):
    return ctx.make("Einsum", *[p for p in ctx.inputs if p is not None], equation=ctx.attr("equation"))


def centered(ctx, port, zero_point, axis_of_vector: int | None):
    """Return ``port`` - ``zero_point`` in i32; a 1-D zero point applies along ``axis_of_vector``."""
    wide = ctx.make("Convert", port, destination_type=ElementType.i32)
    if zero_point is None:
        return wide
    value = zero_point.constant_value()
    if value is not None:
        value = value.astype(np.int32)
        if value.ndim == 1 and axis_of_vector is not None and port.shape is not None:
            shape = [1] * len(port.shape)
            shape[axis_of_vector] = -1
            value = value.reshape(shape)
        return ctx.make("Subtract", wide, ctx.const(value))
    zp = ctx.make("Convert", zero_point, destination_type=ElementType.i32)
    vector = zero_point.shape is None or len(zero_point.shape) == 1 and zero_point.shape[0] != 1
    if vector and axis_of_vector is not None:
        if port.shape is None:
            raise ctx.unsupported("a per-row/per-channel zero point needs an input of known rank")
        axes = [i for i in range(len(port.shape)) if i != axis_of_vector]
        zp = ctx.make("Unsqueeze", zp, ctx.const(axes, np.int64))
    return ctx.make("Subtract", wide, zp)


@onnx_op("MatMulInteger", since=10)
def matmul_integer(ctx):
    """Integer matmul of (A - a_zero_point) and (B - b_zero_point) with i32 accumulation."""
    a, b = ctx.input(0), ctx.input(1)
    rank_a = None if a.shape is None else len(a.shape)
    a_axis = rank_a - 2 if rank_a and rank_a >= 2 else None  # a per-row zero point runs along M
    return ctx.make("MatMul", centered(ctx, a, ctx.optional_input(2), a_axis),
                    centered(ctx, b, ctx.optional_input(3), None))
