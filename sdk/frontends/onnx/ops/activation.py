"""ONNX activations, Clip, Shrink and the Softmax family (Softmax, LogSoftmax, Hardmax)."""

from __future__ import annotations

import math

import numpy as np
from kiln.frontends.onnx.registry import onnx_op
from kiln.ir import ElementType

_PLAIN = {
    "Relu": "Relu", "Sigmoid": "Sigmoid", "Tanh": "Tanh", "Softplus": "SoftPlus", "Softsign": "SoftSign",
    "HardSwish": "HSwish", "Mish": "Mish",
}


def _plain(ir_type: str):
    def convert(ctx):
        return ctx.make(ir_type, ctx.input(0))

    convert.__name__ = f"convert_{ir_type}"
    convert.__doc__ = f"Map the ONNX op onto the IR {ir_type}."
    return convert


for _onnx, _ir in _PLAIN.items():
    onnx_op(_onnx)(_plain(_ir))


def scalar(ctx, value, like):
    """Return a 0-d Constant of ``value`` in the element type of port ``like``."""
    return ctx.const(value, like.element_type.numpy)


@onnx_op("Elu")
def elu(ctx):
    return ctx.make("Elu", ctx.input(0), alpha=float(ctx.attr("alpha", 1.0)))


@onnx_op("Celu", since=12)
def celu(ctx):
    """``alpha * elu(x / alpha)``, which is ``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))``."""
    x = ctx.input(0)
    alpha = float(ctx.attr("alpha", 1.0))
    if alpha == 1.0:
        return ctx.make("Elu", x, alpha=1.0)
    scaled = ctx.make("Divide", x, scalar(ctx, alpha, x))
    return ctx.make("Multiply", ctx.make("Elu", scaled, alpha=1.0), scalar(ctx, alpha, x))


@onnx_op("Selu")
def selu(ctx):
    x = ctx.input(0)
    alpha = ctx.attr("alpha", 1.67326319217681884765625)
    gamma = ctx.attr("gamma", 1.05070102214813232421875)
    return ctx.make("Selu", x, scalar(ctx, alpha, x), scalar(ctx, gamma, x))


@onnx_op("Gelu", since=20)
def gelu(ctx):
    approximate = ctx.attr("approximate", "none")
    if approximate not in ("none", "tanh"):
        raise ctx.unsupported(f"approximate={approximate!r} is not 'none' or 'tanh'")
    return ctx.make("Gelu", ctx.input(0), approximation_mode="ERF" if approximate == "none" else "TANH")


@onnx_op("HardSigmoid")
def hard_sigmoid(ctx):
    x = ctx.input(0)
    alpha, beta = scalar(ctx, ctx.attr("alpha", 0.2), x), scalar(ctx, ctx.attr("beta", 0.5), x)
    return ctx.make("HardSigmoid", x, alpha, beta)


@onnx_op("LeakyRelu")
def leaky_relu(ctx):
    x = ctx.input(0)
    return ctx.make("PRelu", x, scalar(ctx, ctx.attr("alpha", 0.01), x))


@onnx_op("PRelu", since=7)
def prelu(ctx):
    """PRelu with numpy broadcasting of the slope (ONNX's rule) made explicit by rank alignment."""
    x, slope = ctx.input(0), ctx.input(1)
    if slope.element_type != x.element_type:
        slope = ctx.make("Convert", slope, destination_type=x.element_type)
    if x.shape is not None and slope.shape is not None and len(slope.shape) < len(x.shape):
        missing = len(x.shape) - len(slope.shape)
        value = slope.constant_value()
        if value is not None:
            slope = ctx.const(value.reshape((1,) * missing + value.shape))
        else:
            slope = ctx.make("Unsqueeze", slope, ctx.const(list(range(missing)), np.int64))
    return ctx.make("PRelu", x, slope)


@onnx_op("ThresholdedRelu", since=10)
def thresholded_relu(ctx):
    """``x`` where x > alpha, else 0."""
    x = ctx.input(0)
    keep = ctx.make("Greater", x, scalar(ctx, ctx.attr("alpha", 1.0), x))
    return ctx.make("Multiply", x, ctx.make("Convert", keep, destination_type=x.element_type))


@onnx_op("Clip")
def clip_attributes(ctx):
    """Clip before opset 11: bounds are the ``min``/``max`` attributes."""
    if not ctx.has_attr("min") and not ctx.has_attr("max"):
        return ctx.input(0)
    return ctx.make("Clamp", ctx.input(0), min=float(ctx.attr("min", -math.inf)),
                    max=float(ctx.attr("max", math.inf)))


@onnx_op("Clip", since=11)
def clip(ctx):
    """Clip from opset 11: bounds are optional inputs; constant ones become a Clamp."""
    x = ctx.input(0)
    low, high = ctx.optional_input(1), ctx.optional_input(2)
    if low is None and high is None:
        return x
    bounds = []
    for port, index, default in ((low, 1, -math.inf), (high, 2, math.inf)):
        if port is None:
            bounds.append(default)
            continue
        value = ctx.input_value(index)
        if value is None:
            return _clip_by_min_max(ctx, x, low, high)
        bounds.append(np.asarray(value).reshape(-1)[0].item())
    lo, hi = bounds
    if x.element_type.is_integer:
        info = np.iinfo(x.element_type.numpy)
        lo, hi = max(lo, info.min), min(hi, info.max)
        if max(abs(lo), abs(hi)) >= 2 ** 53:  # not exact as a float attribute
            return _clip_by_min_max(ctx, x, low, high)
    if lo <= hi:
        return ctx.make("Clamp", x, min=float(lo), max=float(hi))
    return _clip_by_min_max(ctx, x, low, high)


def _clip_by_min_max(ctx, x, low, high):
    result = x
    if low is not None:
        result = ctx.make("Maximum", result, low)
    if high is not None:
        result = ctx.make("Minimum", result, high)
    return result


def _softmax(ir_type: str, ctx):
    """Softmax/LogSoftmax: before opset 13 the input is flattened to 2-D at ``axis``."""
    return along_axis(ctx, lambda data, axis: ctx.make(ir_type, data, axis=axis))


def along_axis(ctx, build):
    """Apply ``build(port, axis)`` along ONNX's ``axis``; before opset 13 on the input flattened
    to 2-D at ``axis`` (then reshaped back)."""
    x = ctx.input(0)
    if ctx.opset >= 13:
        return build(x, int(ctx.attr("axis", -1)))
    axis = int(ctx.attr("axis", 1))
    if x.shape is None:
        raise ctx.unsupported(f"input of unknown rank with opset {ctx.opset} axis semantics")
    rank = len(x.shape)
    if not -rank <= axis < max(rank, 1):
        raise ctx.unsupported(f"axis {axis} is out of range for rank {rank}")
    axis %= max(rank, 1)
    if axis == rank - 1:
        return build(x, axis)
    head = x.shape[:axis]
    if all(d is not None for d in head):
        flat = ctx.const([int(np.prod(head, dtype=np.int64)), -1], np.int64)
    else:
        shape = ctx.make("ShapeOf", x, output_type=ElementType.i64)
        prefix = ctx.make("Slice", shape, ctx.const([0], np.int64), ctx.const([axis], np.int64),
                          ctx.const([1], np.int64))
        lead = ctx.make("ReduceProd", prefix, ctx.const([0], np.int64), keep_dims=True)
        flat = ctx.make("Concat", lead, ctx.const([-1], np.int64), axis=0)
    matrix = ctx.make("Reshape", x, flat, special_zero=False)
    y = build(matrix, 1)
    if all(d is not None for d in x.shape):
        back = ctx.const(list(x.shape), np.int64)
    else:
        back = ctx.make("ShapeOf", x, output_type=ElementType.i64)
    return ctx.make("Reshape", y, back, special_zero=False)


@onnx_op("Softmax")
def softmax(ctx):
    return _softmax("Softmax", ctx)


@onnx_op("LogSoftmax")
def log_softmax(ctx):
    return _softmax("LogSoftmax", ctx)


@onnx_op("Hardmax")
def hardmax(ctx):
    """1 at the first maximum along ``axis``, 0 elsewhere (TopK then OneHot)."""

    def one_hot_of_max(x, axis):
        if x.shape is None:
            raise ctx.unsupported("input of unknown rank")
        axis %= len(x.shape)
        top = ctx.make_node("TopK", x, ctx.const(np.int64(1)), axis=axis, mode="max", sort="none",
                            index_element_type=ElementType.i64, stable=True)
        index = ctx.make("Squeeze", top.output(1), ctx.const([axis], np.int64))
        if x.shape[axis] is not None:
            depth = ctx.const(np.int64(x.shape[axis]))
        else:
            shape = ctx.make("ShapeOf", x, output_type=ElementType.i64)
            depth = ctx.make("Gather", shape, ctx.const(np.int64(axis)), ctx.const(np.int64(0)))
        dtype = x.element_type.numpy
        return ctx.make("OneHot", index, depth, ctx.const(1, dtype), ctx.const(0, dtype), axis=axis)

    return along_axis(ctx, one_hot_of_max)


@onnx_op("Shrink", since=9)
def shrink(ctx):
    """``x + bias`` where x < -lambd, ``x - bias`` where x > lambd, else 0."""
    x = ctx.input(0)
    lambd, bias = scalar(ctx, ctx.attr("lambd", 0.5), x), scalar(ctx, ctx.attr("bias", 0.0), x)
    zero = scalar(ctx, 0, x)
    low = ctx.make("Less", x, ctx.make("Negative", lambd))
    high = ctx.make("Greater", x, lambd)
    upper = ctx.make("Select", high, ctx.make("Subtract", x, bias), zero)
    return ctx.make("Select", low, ctx.make("Add", x, bias), upper)


@onnx_op("Swish", since=24)
def swish(ctx):
    """``x * sigmoid(alpha * x)``."""
    x = ctx.input(0)
    return ctx.make("Swish", x, scalar(ctx, ctx.attr("alpha", 1.0), x))
