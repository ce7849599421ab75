"""ONNX ops that generate or select by position: Range, EyeLike, OneHot, Trilu, CumSum."""

from __future__ import annotations

import numpy as np
from kiln.frontends.onnx.converter import element_type
from kiln.frontends.onnx.registry import onnx_op
from kiln.ir import ElementType


def dim(ctx, port, axis: int):
    """Return dim ``axis`` of ``port`` as an i64 scalar port (a constant when known)."""
    if port.shape is not None and port.shape[axis] is not None:
        return ctx.const(np.int64(port.shape[axis]))
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
