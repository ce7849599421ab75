"""ONNX DFT -> DFT, IDFT, RDFT or IRDFT."""

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
