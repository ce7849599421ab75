"""ONNX reductions (axes as an attribute before opset 13/18, as an input after) and ArgMax/ArgMin."""

from __future__ import annotations

import numpy as np
from kiln.frontends.onnx.registry import onnx_op
from kiln.ir import ElementType

_AXES_INPUT_SINCE = {"ReduceSum": 13}
"""Opset from which a reduction takes ``axes`` as an input (18 for all but ReduceSum)."""


def reduction_axes(ctx, x):
    """Return the axes port of a Reduce* node, or None to mean "reduce nothing"."""
    since = _AXES_INPUT_SINCE.get(ctx.op_type, 18)
    if ctx.opset < since:
        axes = ctx.attr("axes")
        axes = None if axes is None else ctx.const(np.asarray(axes, np.int64))
        noop = False
    else:
        axes = ctx.optional_input(1)
        noop = bool(ctx.attr("noop_with_empty_axes", 0))
        value = ctx.input_value(1)
        if value is not None and value.size == 0:
            axes = None
    if axes is not None and (noop or axes.constant_value() is not None):
        return axes
    if axes is None and noop:
        return None
    if x.shape is not None:
        every = ctx.const(np.arange(len(x.shape), dtype=np.int64))
        if axes is None:
            return every
        rank = ctx.const(np.int64(len(x.shape)))
    else:
        i64 = ElementType.i64
        rank = ctx.make("ShapeOf", ctx.make("ShapeOf", x, output_type=i64), output_type=i64)
        rank = ctx.make("Squeeze", rank, ctx.const([0], np.int64))
        every = ctx.make("Range", ctx.const(np.int64(0)), rank, ctx.const(np.int64(1)), output_type=i64)
        if axes is None:
            return every
    # axes known only at inference: ONNX reduces every axis when they turn out empty
    if axes.element_type != ElementType.i64:
        axes = ctx.make("Convert", axes, destination_type=ElementType.i64)
    count = ctx.make("ShapeOf", axes, output_type=ElementType.i64)
    empty = ctx.make("Convert", ctx.make("Equal", count, ctx.const([0], np.int64)),
                     destination_type=ElementType.i64)
    stop = ctx.make("Multiply", ctx.make("Squeeze", empty, ctx.const([0], np.int64)), rank)
    extra = ctx.make("Range", ctx.const(np.int64(0)), stop, ctx.const(np.int64(1)),
                     output_type=ElementType.i64)
    return ctx.make("Concat", axes, extra, axis=0)


def reduce(ctx, op_type: str, x=None):
    """Convert the current Reduce* node into IR ``op_type`` applied to ``x`` (default input 0)."""
    x = ctx.input(0) if x is None else x
    axes = reduction_axes(ctx, ctx.input(0))
    if axes is None:
        return x
    return ctx.make(op_type, x, axes, keep_dims=bool(ctx.attr("keepdims", 1)))


def _simple(onnx_name: str, ir_name: str):
    @onnx_op(onnx_name)
    def convert(ctx):
        return reduce(ctx, ir_name)

    convert.__name__ = onnx_name.lower()
    return convert


for _onnx, _ir in [("ReduceSum", "ReduceSum"), ("ReduceMean", "ReduceMean"), ("ReduceMax", "ReduceMax"),
                   ("ReduceMin", "ReduceMin"), ("ReduceProd", "ReduceProd"), ("ReduceL1", "ReduceL1"),
                   ("ReduceL2", "ReduceL2")]:
    _simple(_onnx, _ir)


@onnx_op("ReduceSumSquare")
def reduce_sum_square(ctx):
    x = ctx.input(0)
    return reduce(ctx, "ReduceSum", ctx.make("Multiply", x, x))


@onnx_op("ReduceLogSum")
def reduce_log_sum(ctx):
    summed = reduce(ctx, "ReduceSum")
    return ctx.make("Log", summed)


@onnx_op("ReduceLogSumExp")
def reduce_log_sum_exp(ctx):
    x = ctx.input(0)
    axes = reduction_axes(ctx, x)
    if axes is None:
        return x
    keep = bool(ctx.attr("keepdims", 1))
    peak = ctx.make("ReduceMax", x, axes, keep_dims=True)
    shifted = ctx.make("Exp", ctx.make("Subtract", x, peak))
    total = ctx.make("Log", ctx.make("ReduceSum", shifted, axes, keep_dims=True))
    out = ctx.make("Add", total, peak)
    if keep:
        return out
    return ctx.make("Squeeze", out, axes)


def _arg_extreme(ctx, mode: str):
    x = ctx.input(0)
    axis = ctx.attr("axis", 0)
    keep = bool(ctx.attr("keepdims", 1))
    last = bool(ctx.attr("select_last_index", 0))
    data = x
    if last:
        data = ctx.make("Reverse", x, ctx.const([axis], np.int64), mode="index")
    top = ctx.make_node("TopK", data, ctx.const(np.int64(1)), axis=axis, mode=mode, sort="none",
                        index_element_type=ElementType.i64, stable=True)
    index = top.output(1)
    if last:
        shape = ctx.make("ShapeOf", x, output_type=ElementType.i64)
        size = ctx.make("Gather", shape, ctx.const(np.int64(axis)), ctx.const(np.int64(0)))
        index = ctx.make("Subtract", ctx.make("Subtract", size, ctx.const(np.int64(1))), index)
    if keep:
        return index
    return ctx.make("Squeeze", index, ctx.const([axis], np.int64))


@onnx_op("ArgMax")
def arg_max(ctx):
    return _arg_extreme(ctx, "max")


@onnx_op("ArgMin")
def arg_min(ctx):
    return _arg_extreme(ctx, "min")
