"""ONNX normalizations: BatchNormalization, Instance/Layer/Group/RMS normalization,
LpNormalization, LRN and MeanVarianceNormalization."""

from __future__ import annotations

import numpy as np
from kiln.frontends.onnx.ops.convolution import channel_vector
from kiln.frontends.onnx.registry import onnx_op


@onnx_op("BatchNormalization", since=7)
def batch_normalization(ctx):
    """Batch norm with the stored statistics; ``training_mode=1`` (opset 14+) uses the batch's own."""
    if ctx.attr("training_mode", 0):
        return batch_normalization_training(ctx)
    if ctx.opset < 9 and not ctx.attr("spatial", 1):
        raise ctx.unsupported("spatial=0 (per-activation statistics) is not supported")
    x = ctx.input(0)
    return ctx.make("BatchNormInference", x, ctx.input(1), ctx.input(2), ctx.input(3), ctx.input(4),
                    epsilon=float(ctx.attr("epsilon", 1e-5)))


def batch_normalization_training(ctx):
    """Normalize with the batch's mean and (population) variance over N and the spatial dims;
    also return the running statistics updated with ``momentum``."""
    x = ctx.input(0)
    rank = rank_of(ctx, x)
    axes = ctx.const([0] + list(range(2, rank)), np.int64)
    eps = float(ctx.attr("epsilon", 1e-5))
    momentum = float(ctx.attr("momentum", 0.9))
    dtype = x.element_type.numpy
    y = ctx.make("MVN", x, axes, normalize_variance=True, eps=eps, eps_mode="inside_sqrt")
    y = ctx.make("Multiply", y, channel_vector(ctx, ctx.input(1), rank))
    y = ctx.make("Add", y, channel_vector(ctx, ctx.input(2), rank))
    mean = ctx.make("ReduceMean", x, axes, keep_dims=True)
    var = ctx.make("ReduceMean", ctx.make("SquaredDifference", x, mean), axes, keep_dims=False)
    mean = ctx.make("Squeeze", mean, axes)
    keep, take = ctx.const(momentum, dtype), ctx.const(1.0 - momentum, dtype)

    def running(stored, batch):
        return ctx.make("Add", ctx.make("Multiply", stored, keep), ctx.make("Multiply", batch, take))

    return [y, running(ctx.input(3), mean), running(ctx.input(4), var)]


def rank_of(ctx, port) -> int:
    if port.shape is None:
        raise ctx.unsupported(f"input {port.name!r} has an unknown rank")
    return len(port.shape)


@onnx_op("InstanceNormalization")
def instance_normalization(ctx):
    """Normalize each (n, c) plane over its spatial cells, then scale and shift per channel."""
    x = ctx.input(0)
    rank = rank_of(ctx, x)
    axes = ctx.const(list(range(2, rank)), np.int64)
    y = ctx.make("MVN", x, axes, normalize_variance=True, eps=float(ctx.attr("epsilon", 1e-5)),
                 eps_mode="inside_sqrt")
    y = ctx.make("Multiply", y, channel_vector(ctx, ctx.input(1), rank))
    return ctx.make("Add", y, channel_vector(ctx, ctx.input(2), rank))


@onnx_op("LayerNormalization", since=17)
def layer_normalization(ctx):
    """MVN over dims ``axis..`` then ``* Scale + B``; optional Mean and InvStdDev outputs."""
    x, scale, bias = ctx.input(0), ctx.input(1), ctx.optional_input(2)
    axis = int(ctx.attr("axis", -1))
    eps = float(ctx.attr("epsilon", 1e-5))
    if x.shape is not None:
        rank = len(x.shape)
        if not -rank <= axis < rank:
            raise ctx.unsupported(f"axis {axis} is out of range for rank {rank}")
        axes = list(range(axis % rank, rank))
    elif axis < 0:
        axes = list(range(axis, 0))
    else:
        raise ctx.unsupported("a non-negative axis needs an input of known rank")
    axes_port = ctx.const(axes, np.int64)
    y = ctx.make("MVN", x, axes_port, normalize_variance=True, eps=eps, eps_mode="inside_sqrt")
    y = ctx.make("Multiply", y, scale)
    if bias is not None:
        y = ctx.make("Add", y, bias)
    outputs = [y]
    if ctx.num_outputs > 1:
        mean = ctx.make("ReduceMean", x, axes_port, keep_dims=True)
        var = ctx.make("ReduceMean", ctx.make("SquaredDifference", x, mean), axes_port, keep_dims=True)
        dtype = x.element_type.numpy
        std = ctx.make("Sqrt", ctx.make("Add", var, ctx.const(eps, dtype)))
        outputs += [mean, ctx.make("Divide", ctx.const(1, dtype), std)]
    return outputs


@onnx_op("GroupNormalization", since=18)
def group_normalization(ctx):
    """Group norm; opset 18's per-group scale/bias are repeated to per-channel values."""
    x, scale, bias = ctx.input(0), ctx.input(1), ctx.input(2)
    groups = int(ctx.attr("num_groups"))
    if ctx.opset < 21:
        channels = None if x.shape is None or len(x.shape) < 2 else x.shape[1]
        values = [ctx.input_value(1), ctx.input_value(2)]
        if channels is None or any(v is None for v in values):
            raise ctx.unsupported("opset-18 per-group scale/bias need constants and a known channel count")
        scale, bias = (ctx.const(np.repeat(v, channels // groups)) for v in values)
    return ctx.make("GroupNormalization", x, scale, bias, num_groups=groups,
                    epsilon=float(ctx.attr("epsilon", 1e-5)))


@onnx_op("LpNormalization")
def lp_normalization(ctx):
    """Divide by the L1 or L2 norm along ``axis``; an all-zero vector stays zero."""
    x = ctx.input(0)
    axis = ctx.const([int(ctx.attr("axis", -1))], np.int64)
    p = int(ctx.attr("p", 2))
    if p in (1, 2):
        norm = ctx.make("ReduceL1" if p == 1 else "ReduceL2", x, axis, keep_dims=True)
        one, zero = ctx.const(1, x.element_type.numpy), ctx.const(0, x.element_type.numpy)
        safe = ctx.make("Select", ctx.make("Equal", norm, zero), one, norm)
        return ctx.make("Divide", x, safe)
    raise ctx.unsupported(f"p={p} is not 1 or 2")


@onnx_op("LRN")
def lrn(ctx):
    """Across-channel local response normalization."""
    return ctx.make("LRN", ctx.input(0), ctx.const([1], np.int64), alpha=float(ctx.attr("alpha", 1e-4)),
                    beta=float(ctx.attr("beta", 0.75)), bias=float(ctx.attr("bias", 1.0)),
                    size=int(ctx.attr("size")))


@onnx_op("MeanVarianceNormalization", since=9)
def mean_variance_normalization(ctx):
    """``(x - mean) / sqrt(var)`` over ``axes`` (default 0, 2, 3), with ONNX's 1e-9 epsilon."""
    axes = ctx.const(list(ctx.attr("axes", [0, 2, 3])), np.int64)
    return ctx.make("MVN", ctx.input(0), axes, normalize_variance=True, eps=1e-9, eps_mode="outside_sqrt")


@onnx_op("RMSNormalization", since=23)
def rms_normalization(ctx):
    """``x / sqrt(mean(x^2 over axis..) + epsilon) * scale``."""
    x, scale = ctx.input(0), ctx.input(1)
    axis = int(ctx.attr("axis", -1))
    if x.shape is None:
        raise ctx.unsupported("input of unknown rank")
    rank = len(x.shape)
    if not -rank <= axis < rank:
        raise ctx.unsupported(f"axis {axis} is out of range for rank {rank}")
    axes = ctx.const(list(range(axis % rank, rank)), np.int64)
    dtype = x.element_type.numpy
    mean_square = ctx.make("ReduceMean", ctx.make("Multiply", x, x), axes, keep_dims=True)
    rms = ctx.make("Sqrt", ctx.make("Add", mean_square, ctx.const(float(ctx.attr("epsilon", 1e-5)), dtype)))
    return ctx.make("Multiply", ctx.make("Divide", x, rms), scale)
