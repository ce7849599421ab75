"""ONNX activations, Clip and Softmax-family ops."""

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
    return ctx.make("Clamp", ctx.input(0), min=float(ctx.attr("min", -math.inf)),
                    max=float(ctx.attr("max", math.inf)))


@onnx_op("Clip", since=11)
def clip(ctx):
    """Clip from opset 11: bounds are optional inputs; constant ones become a Clamp."""
    x = ctx.input(0)
    low, high = ctx.optional_input(1), ctx.optional_input(2)
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
    x = ctx.input(0)
    if ctx.opset >= 13:
        return ctx.make(ir_type, x, axis=int(ctx.attr("axis", -1)))
    axis = int(ctx.attr("axis", 1))
    if x.shape is None:
        raise ctx.unsupported(f"input of unknown rank with opset {ctx.opset} axis semantics")
    rank = len(x.shape)
    if not -rank <= axis < max(rank, 1):
        raise ctx.unsupported(f"axis {axis} is out of range for rank {rank}")
    axis %= max(rank, 1)
    if axis == rank - 1:
        return ctx.make(ir_type, x, axis=axis)
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
    y = ctx.make(ir_type, matrix, axis=1)
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
