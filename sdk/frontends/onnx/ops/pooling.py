"""ONNX pooling: MaxPool/MaxUnpool, AveragePool, LpPool, their Global forms, RoiAlign and MaxRoiPool."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from kiln.frontends.onnx.ops.convolution import window_attrs
from kiln.frontends.onnx.registry import onnx_op
from kiln.ir import ElementType
from kiln.ir.ops.convolution import extract_windows, window_geometry


def kernel(ctx) -> list[int]:
    shape = ctx.attr("kernel_shape")
    if not shape:
        raise ctx.unsupported("kernel_shape is required")
    return list(shape)


def rounding(ctx) -> str:
    """ONNX ceil_mode drops a last window that would start in the end padding (``ceil_torch``)."""
    return "ceil_torch" if ctx.attr("ceil_mode", 0) else "floor"


@onnx_op("MaxPool")
def max_pool(ctx):
    """MaxPool; the optional Indices output is the row-major flat index into the input."""
    size = kernel(ctx)
    attrs = window_attrs(ctx, len(size))
    node = ctx.make_node("MaxPool", ctx.input(0), kernel=size, rounding_type=rounding(ctx), **attrs)
    wants_indices = ctx.num_outputs > 1 and ctx.proto.output[1]
    if not wants_indices:
        return node.output(0)
    indices = node.output(1)
    if ctx.attr("storage_order", 0):
        indices = column_major(ctx, indices, ctx.input(0).shape)
    return [node.output(0), indices]


def column_major(ctx, indices, shape):
    """Turn row-major flat indices into ones that run the spatial dims in column-major order."""
    if shape is None or any(d is None for d in shape[2:]):
        raise ctx.unsupported("storage_order=1 needs static spatial dims")
    spatial = [int(d) for d in shape[2:]]
    plane = int(np.prod(spatial))

    def i64(value):
        return ctx.const(np.int64(value))

    base = ctx.make("Multiply", ctx.make("Divide", indices, i64(plane)), i64(plane))
    rest = ctx.make("FloorMod", indices, i64(plane))
    result = base
    row_stride, col_stride = plane, 1
    for size in spatial:
        row_stride //= size
        coord = ctx.make("FloorMod", ctx.make("Divide", rest, i64(row_stride)), i64(size))
        result = ctx.make("Add", result, ctx.make("Multiply", coord, i64(col_stride)))
        col_stride *= size
    return result


@onnx_op("AveragePool")
def average_pool(ctx):
    size = kernel(ctx)
    exclude = not ctx.attr("count_include_pad", 0)
    if any(d != 1 for d in ctx.attr("dilations") or []):
        return dilated_average(ctx, ctx.input(0), size, exclude)
    attrs = window_attrs(ctx, len(size), with_dilations=False)
    return ctx.make("AvgPool", ctx.input(0), kernel=size, rounding_type=rounding(ctx),
                    **{"exclude-pad": exclude}, **attrs)


def dilated_average(ctx, x, size, exclude_pad: bool, divide: bool = True):
    """Average (or, with ``divide`` false, sum) over dilated windows, which AvgPool cannot express.

    The window sums are a depthwise convolution with a kernel of ones; the cell count of every
    window depends only on shapes, so it is computed here as a constant divisor.
    """
    if x.shape is None or any(d is None for d in x.shape[1:]):
        raise ctx.unsupported("dilated average pooling needs static channel and spatial dims")
    attrs = window_attrs(ctx, len(size))
    probe = SimpleNamespace(name=ctx.name, type_name=ctx.op_type,
                            attrs={**attrs, "rounding_type": rounding(ctx)})  # what window_geometry reads
    spatial = [int(d) for d in x.shape[2:]]
    begins, ends, out = window_geometry(probe, spatial, size)
    strides, dilations = attrs["strides"], attrs["dilations"]
    # end padding that makes floor rounding reach the ceil-rounded output size
    ends = [max(e, (o - 1) * s + (k - 1) * d + 1 - n - b)
            for e, o, s, k, d, n, b in zip(ends, out, strides, size, dilations, spatial, begins)]
    channels = int(x.shape[1])
    dtype = x.element_type.numpy
    ones = ctx.const(np.ones((channels, 1, 1, *size), dtype))
    sums = ctx.make("GroupConvolution", x, ones, strides=strides, dilations=dilations, pads_begin=begins,
                    pads_end=ends, auto_pad="explicit")
    if not divide:
        return sums
    if exclude_pad:
        cells = np.ones((1, 1, *spatial), np.float64)
        counts = extract_windows(cells, size, strides, dilations, begins, ends, out)
    else:
        padded = [n + b + e for n, b, e in zip(spatial, begins, window_geometry(probe, spatial, size)[1])]
        cells = np.ones((1, 1, *padded), np.float64)
        counts = extract_windows(cells, size, strides, dilations, [0] * len(size), [0] * len(size), out)
    return ctx.make("Divide", sums, ctx.const(counts.sum(axis=2).astype(dtype)))


@onnx_op("LpPool")
def lp_pool(ctx):
    """``(sum over window |x|^p)^(1/p)``, as a window mean (padding counted) times the window size."""
    x = ctx.input(0)
    size = kernel(ctx)
    p = float(ctx.attr("p", 2))
    dtype = x.element_type.numpy
    powered = ctx.make("Power", ctx.make("Abs", x), ctx.const(p, dtype))
    if any(d != 1 for d in ctx.attr("dilations") or []):
        total = dilated_average(ctx, powered, size, False, divide=False)
    else:
        attrs = window_attrs(ctx, len(size), with_dilations=False)
        mean = ctx.make("AvgPool", powered, kernel=size, rounding_type=rounding(ctx),
                        **{"exclude-pad": False}, **attrs)
        total = ctx.make("Multiply", mean, ctx.const(float(np.prod(size)), dtype))
    return ctx.make("Power", total, ctx.const(1.0 / p, dtype))


def spatial_axes(ctx, x):
    if x.shape is None:
        raise ctx.unsupported("input of unknown rank")
    if len(x.shape) < 3:
        raise ctx.unsupported(f"input of rank {len(x.shape)} has no spatial axes")
    return ctx.const(list(range(2, len(x.shape))), np.int64)


@onnx_op("GlobalAveragePool")
def global_average_pool(ctx):
    x = ctx.input(0)
    return ctx.make("ReduceMean", x, spatial_axes(ctx, x), keep_dims=True)


@onnx_op("GlobalMaxPool")
def global_max_pool(ctx):
    x = ctx.input(0)
    return ctx.make("ReduceMax", x, spatial_axes(ctx, x), keep_dims=True)


@onnx_op("GlobalLpPool", since=2)
def global_lp_pool(ctx):
    x = ctx.input(0)
    axes = spatial_axes(ctx, x)
    p = float(ctx.attr("p", 2))
    if p == 1:
        return ctx.make("ReduceL1", x, axes, keep_dims=True)
    if p == 2:
        return ctx.make("ReduceL2", x, axes, keep_dims=True)
    dtype = x.element_type.numpy
    powered = ctx.make("Power", ctx.make("Abs", x), ctx.const(p, dtype))
    total = ctx.make("ReduceSum", powered, axes, keep_dims=True)
    return ctx.make("Power", total, ctx.const(1.0 / p, dtype))


@onnx_op("MaxUnpool", since=9)
def max_unpool(ctx):
    """Scatter each pooled value back to the flat position its index names; zeros elsewhere.

    Indices address the shape MaxPool would invert, ``(in - 1) * stride + kernel - pads_begin -
    pads_end`` per spatial axis; an ``output_shape`` input extends that result with zeros at
    the end of each axis (as ONNX defines it).
    """
    x, indices = ctx.input(0), ctx.input(1)
    size = kernel(ctx)
    rank = len(size)
    if x.shape is None or any(d is None for d in x.shape):
        raise ctx.unsupported("the pooled input must have a static shape")
    pads = ctx.attr("pads") or [0] * (2 * rank)
    strides = ctx.attr("strides") or [1] * rank
    spatial = [(x.shape[2 + i] - 1) * strides[i] + size[i] - pads[i] - pads[rank + i] for i in range(rank)]
    inferred = [*x.shape[:2], *spatial]
    flat = ctx.const([-1], np.int64)
    zeros = ctx.const(np.zeros(int(np.prod(inferred)), x.element_type.numpy))
    where = ctx.make("Reshape", indices, flat, special_zero=False)
    values = ctx.make("Reshape", x, flat, special_zero=False)
    scattered = ctx.make("ScatterElementsUpdate", zeros, where, values, ctx.const(np.int64(0)))
    y = ctx.make("Reshape", scattered, ctx.const(inferred, np.int64), special_zero=False)
    output_shape = ctx.optional_input(2)
    if output_shape is None:
        return y
    grow = ctx.make("Subtract", ctx.make("Convert", output_shape, destination_type=ElementType.i64),
                    ctx.const(inferred, np.int64))
    return ctx.make("Pad", y, ctx.const([0] * len(inferred), np.int64), grow,
                    ctx.const(np.zeros((), x.element_type.numpy)), pad_mode="constant")


@onnx_op("RoiAlign", since=10)
def roi_align(ctx):
    """RoiAlign in avg mode: ONNX's ``half_pixel`` is OpenVINO's ``half_pixel_for_nn`` and
    ``output_half_pixel`` (the only rule before opset 16) its ``asymmetric``.

    ONNX's max mode takes the largest single weighted corner per sample, unlike OpenVINO's
    (the largest interpolated sample), so it is rejected rather than answered differently.
    """
    default = "half_pixel" if ctx.opset >= 16 else "output_half_pixel"
    transform = ctx.attr("coordinate_transformation_mode", default)
    if transform not in ("half_pixel", "output_half_pixel"):
        raise ctx.unsupported(f"coordinate_transformation_mode {transform!r} is not supported")
    mode = ctx.attr("mode", "avg")
    if mode != "avg":
        raise ctx.unsupported(f"mode {mode!r}: only avg has the same meaning in ONNX and the IR")
    indices = ctx.make("Convert", ctx.input(2), destination_type=ElementType.i32)
    return ctx.make("ROIAlign", ctx.input(0), ctx.input(1), indices,
                    pooled_h=int(ctx.attr("output_height", 1)), pooled_w=int(ctx.attr("output_width", 1)),
                    sampling_ratio=int(ctx.attr("sampling_ratio", 0)),
                    spatial_scale=float(ctx.attr("spatial_scale", 1.0)), mode="avg",
                    aligned_mode="half_pixel_for_nn" if transform == "half_pixel" else "asymmetric")


@onnx_op("MaxRoiPool")
def max_roi_pool(ctx):
    """Max-pool each region (batch index, x1, y1, x2, y2) to ``pooled_shape`` bins."""
    shape = ctx.attr("pooled_shape")
    if not shape or len(shape) != 2:
        raise ctx.unsupported(f"pooled_shape {shape} must list 2 sizes")
    return ctx.make("ROIPooling", ctx.input(0), ctx.input(1), output_size=list(shape),
                    spatial_scale=float(ctx.attr("spatial_scale", 1.0)), method="max")
