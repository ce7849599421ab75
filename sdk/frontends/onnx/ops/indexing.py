"""ONNX gather/scatter/slice ops and Where."""

from __future__ import annotations

import numpy as np
from kiln.frontends.onnx.registry import onnx_op
from kiln.ir import ElementType

_REDUCTIONS = {"none": "none", "add": "sum", "mul": "prod", "min": "min", "max": "max"}


@onnx_op("Gather")
def gather(ctx):
    return ctx.make("Gather", ctx.input(0), ctx.input(1), ctx.const(np.int64(ctx.attr("axis", 0))))


@onnx_op("GatherElements")
def gather_elements(ctx):
    return ctx.make("GatherElements", ctx.input(0), ctx.input(1), axis=ctx.attr("axis", 0))


@onnx_op("GatherND")
def gather_nd(ctx):
    return ctx.make("GatherND", ctx.input(0), ctx.input(1), batch_dims=ctx.attr("batch_dims", 0))


def _reduction(ctx) -> str:
    name = ctx.attr("reduction", "none")
    if name not in _REDUCTIONS:
        raise ctx.unsupported(f"reduction {name!r}")
    return _REDUCTIONS[name]


@onnx_op("Scatter", since=9)
@onnx_op("ScatterElements", since=11)
def scatter_elements(ctx):
    return ctx.make("ScatterElementsUpdate", ctx.input(0), ctx.input(1), ctx.input(2),
                    ctx.const(np.int64(ctx.attr("axis", 0))), reduction=_reduction(ctx))


@onnx_op("ScatterND", since=11)
def scatter_nd(ctx):
    return ctx.make("ScatterNDUpdate", ctx.input(0), ctx.input(1), ctx.input(2), reduction=_reduction(ctx))


@onnx_op("Slice")
def slice_v1(ctx):
    starts = ctx.const(np.asarray(ctx.attr("starts"), np.int64))
    ends = ctx.const(np.asarray(ctx.attr("ends"), np.int64))
    steps = ctx.const(np.ones(len(ctx.attr("starts")), np.int64))
    axes = ctx.attr("axes")
    if axes is None:
        return ctx.make("Slice", ctx.input(0), starts, ends, steps)
    return ctx.make("Slice", ctx.input(0), starts, ends, steps, ctx.const(np.asarray(axes, np.int64)))


@onnx_op("Slice", since=10)
def slice_v10(ctx):
    data, starts, ends = ctx.input(0), ctx.input(1), ctx.input(2)
    axes, steps = ctx.optional_input(3), ctx.optional_input(4)
    if steps is None:
        count = ctx.make("ShapeOf", starts, output_type=ElementType.i64)
        steps = ctx.make("Broadcast", ctx.const(np.ones((), starts.element_type.numpy)), count, mode="numpy")
    if axes is None:
        return ctx.make("Slice", data, starts, ends, steps)
    return ctx.make("Slice", data, starts, ends, steps, axes)


@onnx_op("Where", since=9)
def where(ctx):
    return ctx.make("Select", ctx.input(0), ctx.input(1), ctx.input(2))


@onnx_op("Compress", since=9)
def compress(ctx):
    data, condition = ctx.input(0), ctx.input(1)
    axis = ctx.attr("axis")
    if axis is None:
        data = ctx.make("Reshape", data, ctx.const([-1], np.int64), special_zero=False)
        axis = 0
    positions = ctx.make("NonZero", condition, output_type=ElementType.i64)
    positions = ctx.make("Squeeze", positions, ctx.const([0], np.int64))
    return ctx.make("Gather", data, positions, ctx.const(np.int64(axis)))


@onnx_op("TensorScatter", since=24)
def tensor_scatter(ctx):
    """Write ``update`` into ``past_cache`` along ``axis`` from ``write_indices[batch]`` on
    (modulo the cache length in circular mode)."""
    cache, update = ctx.input(0), ctx.input(1)
    if cache.shape is None:
        raise ctx.unsupported("past_cache of unknown rank")
    rank = len(cache.shape)
    axis = ctx.attr("axis", -2) % rank
    mode = ctx.attr("mode", "linear")
    if mode not in ("linear", "circular"):
        raise ctx.unsupported(f"mode {mode!r}")
    i64 = ElementType.i64
    zero, one = ctx.const(np.int64(0)), ctx.const(np.int64(1))

    def dim(port):
        shape = ctx.make("ShapeOf", port, output_type=i64)
        return ctx.make("Gather", shape, ctx.const(np.int64(axis)), zero)

    steps = ctx.make("Range", zero, dim(update), one, output_type=i64)
    steps = ctx.make("Reshape", steps, ctx.const([-1 if i == axis else 1 for i in range(rank)], np.int64),
                     special_zero=False)
    starts = ctx.optional_input(2)
    if starts is None:
        starts = ctx.const(np.zeros(1, np.int64))
    elif starts.element_type != i64:
        starts = ctx.make("Convert", starts, destination_type=i64)
    starts = ctx.make("Reshape", starts, ctx.const([-1] + [1] * (rank - 1), np.int64), special_zero=False)
    positions = ctx.make("Add", starts, steps)
    if mode == "circular":
        positions = ctx.make("FloorMod", positions, dim(cache))
    positions = ctx.make("Broadcast", positions, ctx.make("ShapeOf", update, output_type=i64), mode="numpy")
    return ctx.make("ScatterElementsUpdate", cache, positions, update, ctx.const(np.int64(axis)))
