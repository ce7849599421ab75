"""ONNX DFT and STFT -> DFT, IDFT, RDFT or IRDFT."""

from __future__ import annotations

import numpy as np
from kiln.frontends.onnx.registry import onnx_op
from kiln.ir import ElementType


def _signal_axis(ctx, x):
    """Return the transformed axis as a 1-D i64 port, counted over the input's full rank."""
    if ctx.opset >= 20:
        axis = ctx.optional_input(2)
        if axis is None:
            return ctx.const([len(x.shape) - 2], np.int64)
        if axis.element_type != ElementType.i64:
            axis = ctx.make("Convert", axis, destination_type=ElementType.i64)
        rank = ctx.const(np.int64(len(x.shape)))
        return ctx.make("Reshape", ctx.make("FloorMod", axis, rank), ctx.const([1], np.int64),
                        special_zero=False)
    axis = ctx.attr("axis", 1)
    return ctx.const([axis + len(x.shape) if axis < 0 else axis], np.int64)


@onnx_op("DFT", since=17)
def dft(ctx):
    x = ctx.input(0)
    if x.shape is None or x.shape[-1] not in (1, 2):
        raise ctx.unsupported(f"input {x.name!r} must end in a dim of 1 (real) or 2 (complex)")
    axes = _signal_axis(ctx, x)
    length = ctx.optional_input(1)
    extra = []
    if length is not None:
        extra = [ctx.make("Reshape", length if length.element_type == ElementType.i64 else
                          ctx.make("Convert", length, destination_type=ElementType.i64),
                          ctx.const([1], np.int64), special_zero=False)]
    inverse, onesided = bool(ctx.attr("inverse", 0)), bool(ctx.attr("onesided", 0))
    real = x.shape[-1] == 1
    last = ctx.const([-1], np.int64)
    if onesided and inverse:
        out = ctx.make("IRDFT", x, axes, *extra)
        return ctx.make("Unsqueeze", out, last)
    if onesided:
        if not real:
            raise ctx.unsupported("onesided DFT of a complex input")
        return ctx.make("RDFT", ctx.make("Squeeze", x, last), axes, *extra)
    if real:
        zeros = ctx.make("Broadcast", ctx.const(np.zeros((), x.element_type.numpy)),
                         ctx.make("ShapeOf", x, output_type=ElementType.i64), mode="numpy")
        x = ctx.make("Concat", x, zeros, axis=-1)
    return ctx.make("IDFT" if inverse else "DFT", x, axes, *extra)


@onnx_op("STFT", since=17)
def stft(ctx):
    """Frame the signal ([batch, length, 1|2]) every ``frame_step`` samples, window each frame
    and take its DFT: output [batch, frames, bins, 2], frames = (length - frame_length) // step + 1."""
    signal = ctx.input(0)
    if signal.shape is None or len(signal.shape) != 3 or signal.shape[-1] not in (1, 2):
        raise ctx.unsupported(f"signal {signal.name!r} must be [batch, length, 1 or 2]")
    i64 = ElementType.i64
    zero, one = ctx.const(np.int64(0)), ctx.const(np.int64(1))

    def scalar_i64(port):
        port = port if port.element_type == i64 else ctx.make("Convert", port, destination_type=i64)
        return ctx.make("Reshape", port, ctx.const([], np.int64), special_zero=False)

    def dim(port, axis):
        return ctx.make("Gather", ctx.make("ShapeOf", port, output_type=i64), ctx.const(np.int64(axis)), zero)

    step = scalar_i64(ctx.input(1))
    window = ctx.optional_input(2)
    length = ctx.optional_input(3)
    if length is not None:
        width = scalar_i64(length)
    elif window is not None:
        width = dim(window, 0)
    else:
        raise ctx.unsupported("neither window nor frame_length is given")
    frames = ctx.make("Add", ctx.make("Divide", ctx.make("Subtract", dim(signal, 1), width), step,
                                      m_pythondiv=True), one)
    starts = ctx.make("Multiply", ctx.make("Range", zero, frames, one, output_type=i64), step)
    offsets = ctx.make("Range", zero, width, one, output_type=i64)
    positions = ctx.make("Add", ctx.make("Unsqueeze", starts, ctx.const([1], np.int64)),
                         ctx.make("Unsqueeze", offsets, ctx.const([0], np.int64)))
    framed = ctx.make("Gather", signal, positions, ctx.const(np.int64(1)))  # [batch, frames, width, 1|2]
    if window is not None:
        if window.element_type != signal.element_type:
            window = ctx.make("Convert", window, destination_type=signal.element_type)
        framed = ctx.make("Multiply", framed, ctx.make("Reshape", window, ctx.const([1, 1, -1, 1], np.int64),
                                                       special_zero=False))
    axes = ctx.const([2], np.int64)
    real = signal.shape[-1] == 1
    if ctx.attr("onesided", 1):
        if not real:
            raise ctx.unsupported("onesided STFT of a complex signal")
        return ctx.make("RDFT", ctx.make("Squeeze", framed, ctx.const([-1], np.int64)), axes)
    if real:
        zeros = ctx.make("Broadcast", ctx.const(np.zeros((), signal.element_type.numpy)),
                         ctx.make("ShapeOf", framed, output_type=i64), mode="numpy")
        framed = ctx.make("Concat", framed, zeros, axis=-1)
    return ctx.make("DFT", framed, axes)
