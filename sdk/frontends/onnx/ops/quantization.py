"""ONNX quantization ops decomposed into Convert / Subtract / Multiply / Round / Clamp.

QuantizeLinear: ``saturate(round_half_even(x / scale) + zero_point)``; DequantizeLinear:
``(q - zero_point) * scale``; both per tensor or per axis (a 1-D scale along ``axis``).
QLinearConv / QLinearMatMul dequantize, run the float op and requantize; ConvInteger
subtracts zero points in i32 and convolves in i32. Block quantization (opset 21
``block_size``) gathers each parameter block out to the input's size. Float8 and 4-bit
float types are not supported.
"""

from __future__ import annotations

import numpy as np
from kiln.frontends.onnx.ops.convolution import add_bias, grouped_filters, spatial_rank, window_attrs
from kiln.frontends.onnx.ops.matmul import centered
from kiln.frontends.onnx.registry import onnx_op
from kiln.ir import ElementType


def along_axis(ctx, port, axis: int, rank: int | None):
    """Return a 1-D ``port`` shaped to broadcast along ``axis`` of a rank-``rank`` tensor."""
    if port.shape is None or len(port.shape) != 1 or port.shape[0] == 1:
        return port
    if rank is None:
        raise ctx.unsupported("a per-axis scale needs an input of known rank")
    axis %= rank
    value = port.constant_value()
    shape = [1] * rank
    shape[axis] = -1
    if value is not None:
        return ctx.const(value.reshape(shape))
    axes = [i for i in range(rank) if i != axis]
    return ctx.make("Unsqueeze", port, ctx.const(axes, np.int64))


def blocked(ctx, data, port, axis: int):
    """Expand a block-quantization parameter (``block_size`` > 0) to the size of ``data`` along
    ``axis`` by gathering entry ``i // block_size`` for each index ``i``; else return it as is."""
    block = int(ctx.attr("block_size", 0) or 0)
    if not block or port is None:
        return port
    if data.shape is None or port.shape is None or data.shape[axis] is None:
        raise ctx.unsupported("block quantization needs a known size along the quantized axis")
    if len(port.shape) != len(data.shape):
        raise ctx.unsupported(f"block-quantization parameters must have the rank of the input "
                              f"({len(data.shape)}), got shape {list(port.shape)}")
    indices = np.arange(int(data.shape[axis]), dtype=np.int64) // block
    return ctx.make("Gather", port, ctx.const(indices), ctx.const(np.int64(axis % len(data.shape))))


def quantize(ctx, x, scale, zero_point, target: ElementType, axis: int = 1):
    """Return ``x`` quantized to ``target`` with ``scale`` and ``zero_point`` (ports or None)."""
    rank = None if x.shape is None else len(x.shape)
    if target not in (ElementType.u8, ElementType.i8, ElementType.u16, ElementType.i16,
                      ElementType.i32, ElementType.u4, ElementType.i4):
        raise ctx.unsupported(f"quantizing to {target.value} is not supported")
    work = x.element_type
    if scale.element_type != work:
        scale = ctx.make("Convert", scale, destination_type=work)
    y = ctx.make("Round", ctx.make("Divide", x, along_axis(ctx, scale, axis, rank)), mode="half_to_even")
    if zero_point is not None:
        zp = ctx.make("Convert", along_axis(ctx, zero_point, axis, rank), destination_type=work)
        y = ctx.make("Add", y, zp)
    low, high = {ElementType.u4: (0, 15), ElementType.i4: (-8, 7)}.get(
        target, (np.iinfo(target.numpy).min, np.iinfo(target.numpy).max))
    y = ctx.make("Clamp", y, min=float(low), max=float(high))
    return ctx.make("Convert", y, destination_type=target)


def dequantize(ctx, q, scale, zero_point, axis: int = 1):
    """Return ``(q - zero_point) * scale`` in the scale's element type."""
    rank = None if q.shape is None else len(q.shape)
    work = scale.element_type
    y = ctx.make("Convert", q, destination_type=work)
    if zero_point is not None:
        zp = ctx.make("Convert", along_axis(ctx, zero_point, axis, rank), destination_type=work)
        y = ctx.make("Subtract", y, zp)
    return ctx.make("Multiply", y, along_axis(ctx, scale, axis, rank))


def target_type(ctx, zero_point) -> ElementType:
    if zero_point is not None:
        return zero_point.element_type
    output_dtype = ctx.attr("output_dtype", 0)
    if output_dtype:
        from kiln.frontends.onnx.converter import element_type

        return element_type(output_dtype, ctx.where)
    return ElementType.u8


@onnx_op("QuantizeLinear", since=10)
def quantize_linear(ctx):
    if ctx.opset >= 19 and not ctx.attr("saturate", 1):
        raise ctx.unsupported("saturate=0 applies to float8 outputs, which are not supported")
    x, axis = ctx.input(0), int(ctx.attr("axis", 1))
    zero_point = ctx.optional_input(2)
    target = target_type(ctx, zero_point)
    return quantize(ctx, x, blocked(ctx, x, ctx.input(1), axis), blocked(ctx, x, zero_point, axis), target,
                    axis)


@onnx_op("DequantizeLinear", since=10)
def dequantize_linear(ctx):
    q, axis = ctx.input(0), int(ctx.attr("axis", 1))
    scale, zero_point = blocked(ctx, q, ctx.input(1), axis), blocked(ctx, q, ctx.optional_input(2), axis)
    return dequantize(ctx, q, scale, zero_point, axis)


@onnx_op("DynamicQuantizeLinear", since=11)
def dynamic_quantize_linear(ctx):
    """u8 quantization with scale and zero point from the tensor's range (always including 0)."""
    x = ctx.input(0)
    if x.shape is None:
        raise ctx.unsupported("input of unknown rank")
    axes = ctx.const(list(range(len(x.shape))), np.int64)
    dtype = x.element_type.numpy
    zero = ctx.const(0, dtype)
    low = ctx.make("Minimum", ctx.make("ReduceMin", x, axes, keep_dims=False), zero)
    high = ctx.make("Maximum", ctx.make("ReduceMax", x, axes, keep_dims=False), zero)
    scale = ctx.make("Divide", ctx.make("Subtract", high, low), ctx.const(255, dtype))
    zp_float = ctx.make("Clamp", ctx.make("Round", ctx.make("Divide", ctx.make("Negative", low), scale),
                                          mode="half_to_even"), min=0.0, max=255.0)
    zero_point = ctx.make("Convert", zp_float, destination_type=ElementType.u8)
    return [quantize(ctx, x, scale, zero_point, ElementType.u8), scale, zero_point]


@onnx_op("QLinearMatMul", since=10)
def qlinear_matmul(ctx):
    """Dequantize A and B (per tensor, or B per output column), multiply, requantize to y's type."""
    a = dequantize(ctx, ctx.input(0), ctx.input(1), ctx.optional_input(2), axis=-2)
    b = dequantize(ctx, ctx.input(3), ctx.input(4), ctx.optional_input(5), axis=-1)
    y = ctx.make("MatMul", a, b)
    zero_point = ctx.optional_input(7)
    return quantize(ctx, y, ctx.input(6), zero_point, target_type(ctx, zero_point), axis=-1)


@onnx_op("QLinearConv", since=10)
def qlinear_conv(ctx):
    """Dequantize x and w (w per output channel), convolve in float, add the i32 bias, requantize."""
    x = dequantize(ctx, ctx.input(0), ctx.input(1), ctx.optional_input(2), axis=1)
    w_port = ctx.input(3)
    w = dequantize(ctx, w_port, ctx.input(4), ctx.optional_input(5), axis=0)
    rank = spatial_rank(ctx, w_port)
    attrs = window_attrs(ctx, rank)
    groups = int(ctx.attr("group", 1))
    if groups == 1:
        y = ctx.make("Convolution", x, w, **attrs)
    else:
        y = ctx.make("GroupConvolution", x, grouped_filters(ctx, w, groups), **attrs)
    bias = ctx.optional_input(8)
    if bias is not None:
        x_scale, w_scale = ctx.input(1), ctx.input(4)
        bias_scale = ctx.make("Multiply", x_scale, w_scale)
        bias = ctx.make("Multiply", ctx.make("Convert", bias, destination_type=bias_scale.element_type),
                        bias_scale)
        y = add_bias(ctx, y, bias, rank + 2)
    zero_point = ctx.optional_input(7)
    return quantize(ctx, y, ctx.input(6), zero_point, target_type(ctx, zero_point), axis=1)


@onnx_op("ConvInteger", since=10)
def conv_integer(ctx):
    """Convolve (x - x_zero_point) with (w - w_zero_point) in i32; w's zero point may be per channel."""
    x, w = ctx.input(0), ctx.input(1)
    rank = spatial_rank(ctx, w)
    attrs = window_attrs(ctx, rank)
    xc = centered(ctx, x, ctx.optional_input(2), None)
    wc = centered(ctx, w, ctx.optional_input(3), 0)
    groups = int(ctx.attr("group", 1))
    if groups == 1:
        return ctx.make("Convolution", xc, wc, **attrs)
    return ctx.make("GroupConvolution", xc, grouped_filters(ctx, wc, groups), **attrs)
