"""ONNX ops that generate or select by position: Range, EyeLike, OneHot, Trilu, CumSum, CumProd."""

from __future__ import annotations

import numpy as np
from kiln.frontends.onnx.converter import element_type
from kiln.frontends.onnx.registry import onnx_op
from kiln.ir import ElementType


def dim(ctx, port, axis: int):
    """Return dim ``axis`` of ``port`` as an i64 scalar port, read from ShapeOf so that it
    follows ``Model.reshape()`` (shape inference still sees its value when it is static)."""
    shape = ctx.make("ShapeOf", port, output_type=ElementType.i64)
    return ctx.make("Gather", shape, ctx.const(np.int64(axis)), ctx.const(np.int64(0)))


@onnx_op("Range", since=11)
def range_(ctx):
    start = ctx.input(0)
    return ctx.make("Range", start, ctx.input(1), ctx.input(2), output_type=start.element_type)


@onnx_op("EyeLike", since=9)
def eye_like(ctx):
    x = ctx.input(0)
    dtype = ctx.attr("dtype")
    etype = x.element_type if dtype is None else element_type(dtype, ctx.where)
    return ctx.make("Eye", dim(ctx, x, 0), dim(ctx, x, 1), ctx.const(np.int64(ctx.attr("k", 0))),
                    output_type=etype)


@onnx_op("OneHot", since=9)
def one_hot(ctx):
    indices, depth, values = ctx.input(0), ctx.input(1), ctx.input(2)
    if indices.element_type != ElementType.i64:
        indices = ctx.make("Convert", indices, destination_type=ElementType.i64)
    if depth.element_type != ElementType.i64:
        depth = ctx.make("Convert", depth, destination_type=ElementType.i64)
    zero = ctx.const(np.int64(0))
    off = ctx.make("Gather", values, zero, zero)
    on = ctx.make("Gather", values, ctx.const(np.int64(1)), zero)
    return ctx.make("OneHot", indices, depth, on, off, axis=ctx.attr("axis", -1),
                    negative_indices_mode="normalize")


@onnx_op("Trilu", since=14)
def trilu(ctx):
    x = ctx.input(0)
    k = ctx.optional_input(1)
    k = ctx.const(np.int64(0)) if k is None else k
    one, zero = ctx.const(np.int64(1)), ctx.const(np.int64(0))
    rows = ctx.make("Range", zero, dim(ctx, x, -2), one, output_type=ElementType.i64)
    cols = ctx.make("Range", zero, dim(ctx, x, -1), one, output_type=ElementType.i64)
    offset = ctx.make("Subtract", ctx.make("Unsqueeze", cols, ctx.const([0], np.int64)),
                      ctx.make("Unsqueeze", rows, ctx.const([1], np.int64)))
    keep = ctx.make("GreaterEqual" if ctx.attr("upper", 1) else "LessEqual", offset, k)
    return ctx.make("Select", keep, x, ctx.const(np.zeros((), x.element_type.numpy)))


@onnx_op("CumSum", since=11)
def cum_sum(ctx):
    return ctx.make("CumSum", ctx.input(0), ctx.input(1), exclusive=bool(ctx.attr("exclusive", 0)),
                    reverse=bool(ctx.attr("reverse", 0)))


MAX_CUMPROD_STEPS = 1024
"""Longest axis CumProd is unrolled along (the IR has no cumulative-product op)."""


def _cumprod_along(ctx, x, axis: int, exclusive: bool, reverse: bool):
    """Return the running products of ``x`` along static ``axis``: one Multiply per step."""
    n = x.shape[axis]
    one_step = ctx.const([1], np.int64)
    where = ctx.const([axis], np.int64)
    steps = [ctx.make("Slice", x, ctx.const([k], np.int64), ctx.const([k + 1], np.int64), one_step, where)
             for k in range(n)]
    outputs = [None] * n
    running = None
    for k in (range(n - 1, -1, -1) if reverse else range(n)):
        if exclusive:
            outputs[k] = running if running is not None else ctx.make(
                "Broadcast", ctx.const(np.ones((), x.element_type.numpy)),
                ctx.make("ShapeOf", steps[k], output_type=ElementType.i64), mode="numpy")
        running = steps[k] if running is None else ctx.make("Multiply", running, steps[k])
        if not exclusive:
            outputs[k] = running
    return outputs[0] if n == 1 else ctx.make("Concat", *outputs, axis=axis)


@onnx_op("CumProd", since=26)
def cum_prod(ctx):
    """Unroll the running product along the axis (exact, any element type). When the axis is
    known only at inference, build it for every axis and Select the one asked for."""
    x = ctx.input(0)
    if x.shape is None or any(d is None for d in x.shape):
        raise ctx.unsupported("CumProd needs a static input shape (it is unrolled)")
    rank = len(x.shape)
    exclusive, reverse = bool(ctx.attr("exclusive", 0)), bool(ctx.attr("reverse", 0))
    if rank == 0:
        return x
    axis_value = ctx.input_value(1)
    candidates = [axis_value.reshape(-1)[0] % rank] if axis_value is not None else range(rank)
    if sum(x.shape[a] for a in candidates) > MAX_CUMPROD_STEPS:
        raise ctx.unsupported(f"axis too long to unroll (more than {MAX_CUMPROD_STEPS} steps)")
    x = ctx.make("Reshape", x, ctx.const(np.asarray(x.shape, np.int64)), special_zero=False)  # pins sizes
    results = {int(a): _cumprod_along(ctx, x, int(a), exclusive, reverse) for a in candidates}
    if len(results) == 1:
        return next(iter(results.values()))
    axis = ctx.input(1)
    if axis.element_type != ElementType.i64:
        axis = ctx.make("Convert", axis, destination_type=ElementType.i64)
    axis = ctx.make("FloorMod", ctx.make("Reshape", axis, ctx.const([], np.int64), special_zero=False),
                    ctx.const(np.int64(rank)))
    out = results[rank - 1]
    for a in range(rank - 2, -1, -1):
        out = ctx.make("Select", ctx.make("Equal", axis, ctx.const(np.int64(a))), results[a], out)
    return out
