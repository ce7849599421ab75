"""ONNX shape and data-movement ops: Reshape, Flatten, Squeeze, Unsqueeze, Transpose, Concat, ..."""

from __future__ import annotations

import numpy as np
from kiln.frontends.onnx.registry import onnx_op
from kiln.ir import ElementType
from kiln.ir.types import is_static


def rank_of(ctx, port) -> int:
    """Return the rank of ``port``; raise naming the node when it is unknown."""
    if port.shape is None:
        raise ctx.unsupported(f"input {port.name!r} has an unknown rank")
    return len(port.shape)


def axes_input(ctx, attr_until: int, index: int = 1, name: str = "axes"):
    """Return the axes of a node as a port: the ``axes`` attribute before opset ``attr_until``,
    input ``index`` from then on; None when absent."""
    if ctx.opset < attr_until:
        axes = ctx.attr(name)
        return None if axes is None else ctx.const(np.asarray(axes, np.int64))
    return ctx.optional_input(index)


@onnx_op("Identity")
def identity(ctx):
    return ctx.input(0)


@onnx_op("Reshape", since=5)
def reshape(ctx):
    return ctx.make("Reshape", ctx.input(0), ctx.input(1), special_zero=not ctx.attr("allowzero", 0))


@onnx_op("Flatten")
def flatten(ctx):
    x = ctx.input(0)
    rank = rank_of(ctx, x)
    axis = ctx.attr("axis", 1)
    axis = axis + rank if axis < 0 else axis
    if not 0 <= axis <= rank:
        raise ctx.unsupported(f"axis {ctx.attr('axis', 1)} is out of range for rank {rank}")
    head, tail = x.shape[:axis], x.shape[axis:]
    if is_static(tail) and 0 not in tail:  # [-1, tail]: still right after reshape() of the head dims
        return ctx.make("Reshape", x, ctx.const([-1, int(np.prod(tail, dtype=np.int64))], np.int64),
                        special_zero=False)
    if is_static(head) and 0 not in head:
        return ctx.make("Reshape", x, ctx.const([int(np.prod(head, dtype=np.int64)), -1], np.int64),
                        special_zero=False)
    shape = ctx.make("ShapeOf", x, output_type=ElementType.i64)
    prefix = ctx.make("Slice", shape, ctx.const([0], np.int64), ctx.const([axis], np.int64),
                      ctx.const([1], np.int64))
    lead = ctx.make("ReduceProd", prefix, ctx.const([0], np.int64), keep_dims=True)
    target = ctx.make("Concat", lead, ctx.const([-1], np.int64), axis=0)
    return ctx.make("Reshape", x, target, special_zero=False)


@onnx_op("Squeeze")
def squeeze(ctx):
    axes = axes_input(ctx, 13)
    if axes is None:
        return ctx.make("Squeeze", ctx.input(0))
    return ctx.make("Squeeze", ctx.input(0), axes)


@onnx_op("Unsqueeze")
def unsqueeze(ctx):
    axes = axes_input(ctx, 13)
    if axes is None:
        raise ctx.unsupported("axes are missing")
    return ctx.make("Unsqueeze", ctx.input(0), axes)


@onnx_op("Transpose")
def transpose(ctx):
    x = ctx.input(0)
    perm = ctx.attr("perm")
    if perm is None:
        perm = list(range(rank_of(ctx, x)))[::-1]
    return ctx.make("Transpose", x, ctx.const(np.asarray(perm, np.int64)))


@onnx_op("Concat")
def concat(ctx):
    inputs = [p for p in ctx.inputs if p is not None]
    return ctx.make("Concat", *inputs, axis=ctx.attr("axis", 0))


@onnx_op("Split")
def split(ctx):
    x = ctx.input(0)
    axis = ctx.attr("axis", 0)
    count = ctx.num_outputs
    if ctx.opset < 13:
        lengths = ctx.attr("split")
        lengths = None if lengths is None else ctx.const(np.asarray(lengths, np.int64))
    else:
        lengths = ctx.optional_input(1)
    if lengths is None and ctx.opset >= 18 and ctx.has_attr("num_outputs"):
        count = ctx.attr("num_outputs")
        dim = x.shape[axis] if x.shape is not None and -len(x.shape) <= axis < len(x.shape) else None
        if dim is None:
            lengths = uneven_split_lengths(ctx, x, axis, count)
        elif dim % count:
            part = -(-dim // count)
            lengths = ctx.const([part] * (count - 1) + [dim - part * (count - 1)], np.int64)
    if lengths is not None:
        if lengths.shape != (count,):  # the node's output count fixes the length
            lengths = ctx.make("Reshape", lengths, ctx.const([count], np.int64), special_zero=False)
        node = ctx.make_node("VariadicSplit", x, ctx.const(np.int64(axis)), lengths)
    else:
        node = ctx.make_node("Split", x, ctx.const(np.int64(axis)), num_splits=count)
    return node.outputs


def uneven_split_lengths(ctx, x, axis: int, count: int):
    """Return split lengths ``[p, ..., p, dim - p*(count-1)]`` with ``p = ceil(dim / count)``,
    computed at inference for a dynamic dim."""
    i64 = ElementType.i64
    dim = ctx.make("Gather", ctx.make("ShapeOf", x, output_type=i64), ctx.const([axis], np.int64),
                   ctx.const(np.int64(0)))
    part = ctx.make("Divide", ctx.make("Add", dim, ctx.const([count - 1], np.int64)),
                    ctx.const([count], np.int64), m_pythondiv=True)
    rest = ctx.make("Subtract", dim, ctx.make("Multiply", part, ctx.const([count - 1], np.int64)))
    parts = ctx.make("Broadcast", part, ctx.const([count - 1], np.int64), mode="numpy")
    lengths = ctx.make("Concat", parts, rest, axis=0)
    return ctx.make("Reshape", lengths, ctx.const([count], np.int64), special_zero=False)


@onnx_op("Shape")
def shape(ctx):
    out = ctx.make("ShapeOf", ctx.input(0), output_type=ElementType.i64)
    start, end = ctx.attr("start", 0), ctx.attr("end")
    if start == 0 and end is None:
        return out
    stop = np.iinfo(np.int64).max if end is None else end
    return ctx.make("Slice", out, ctx.const([start], np.int64), ctx.const([stop], np.int64),
                    ctx.const([1], np.int64))


@onnx_op("Size")
def size(ctx):
    shape_ = ctx.make("ShapeOf", ctx.input(0), output_type=ElementType.i64)
    return ctx.make("ReduceProd", shape_, ctx.const([0], np.int64), keep_dims=False)


@onnx_op("Expand", since=8)
def expand(ctx):
    return ctx.make("Broadcast", ctx.input(0), ctx.input(1), mode="bidirectional")


@onnx_op("Tile")
def tile(ctx):
    return ctx.make("Tile", ctx.input(0), ctx.input(1))


@onnx_op("Pad")
def pad(ctx):
    x = ctx.input(0)
    mode = ctx.attr("mode", "constant")
    if mode not in ("constant", "reflect", "edge", "wrap"):
        raise ctx.unsupported(f"pad mode {mode!r}")
    if ctx.opset < 11:
        pads = ctx.const(np.asarray(ctx.attr("pads"), np.int64))
        value = ctx.const(np.asarray(ctx.attr("value", 0.0), x.element_type.numpy))
    else:
        pads = ctx.input(1)
        value = ctx.optional_input(2)
        if value is None:
            value = ctx.const(np.zeros((), x.element_type.numpy))
    rank = rank_of(ctx, x)
    axes = ctx.optional_input(3) if ctx.opset >= 18 else None
    if axes is not None:
        pads = full_pads(ctx, pads, axes, rank)
    if mode == "wrap":
        return wrap_pad(ctx, x, pads, rank)
    begin = ctx.make("Slice", pads, ctx.const([0], np.int64), ctx.const([rank], np.int64),
                     ctx.const([1], np.int64))
    end = ctx.make("Slice", pads, ctx.const([rank], np.int64), ctx.const([2 * rank], np.int64),
                   ctx.const([1], np.int64))
    if mode == "constant":
        return ctx.make("Pad", x, begin, end, value, pad_mode="constant")
    return ctx.make("Pad", x, begin, end, pad_mode=mode)


def full_pads(ctx, pads, axes, rank: int):
    """Return pads for every axis (``[begins..., ends...]``, i64) from pads given for ``axes`` only."""
    i64 = ElementType.i64
    if axes.element_type != i64:
        axes = ctx.make("Convert", axes, destination_type=i64)
    if pads.element_type != i64:
        pads = ctx.make("Convert", pads, destination_type=i64)
    axes = ctx.make("FloorMod", axes, ctx.const(np.int64(rank)))
    positions = ctx.make("Concat", axes, ctx.make("Add", axes, ctx.const(np.int64(rank))), axis=0)
    return ctx.make("ScatterUpdate", ctx.const(np.zeros(2 * rank, np.int64)), positions, pads,
                    ctx.const(np.int64(0)))


def wrap_pad(ctx, x, pads, rank: int):
    """Pad ``x`` cyclically: gather each axis at ``(-begin .. dim+end) mod dim`` (negative pads crop)."""
    i64 = ElementType.i64
    if pads.element_type != i64:
        pads = ctx.make("Convert", pads, destination_type=i64)
    zero, one = ctx.const(np.int64(0)), ctx.const(np.int64(1))
    for axis in range(rank):
        begin = ctx.make("Gather", pads, ctx.const(np.int64(axis)), zero)
        end = ctx.make("Gather", pads, ctx.const(np.int64(axis + rank)), zero)
        size = ctx.make("Gather", ctx.make("ShapeOf", x, output_type=i64), ctx.const(np.int64(axis)), zero)
        positions = ctx.make("Range", ctx.make("Subtract", zero, begin), ctx.make("Add", size, end), one,
                             output_type=i64)
        x = ctx.make("Gather", x, ctx.make("FloorMod", positions, size), ctx.const(np.int64(axis)))
    return x


@onnx_op("DepthToSpace")
def depth_to_space(ctx):
    mode = {"DCR": "blocks_first", "CRD": "depth_first"}[ctx.attr("mode", "DCR")]
    return ctx.make("DepthToSpace", ctx.input(0), mode=mode, block_size=ctx.attr("blocksize"))


@onnx_op("SpaceToDepth")
def space_to_depth(ctx):
    mode = {"DCR": "blocks_first", "CRD": "depth_first"}[ctx.attr("mode", "DCR")]
    return ctx.make("SpaceToDepth", ctx.input(0), mode=mode, block_size=ctx.attr("blocksize"))


@onnx_op("ReverseSequence")
def reverse_sequence(ctx):
    return ctx.make("ReverseSequence", ctx.input(0), ctx.input(1),
                    batch_axis=ctx.attr("batch_axis", 1), seq_axis=ctx.attr("time_axis", 0))
