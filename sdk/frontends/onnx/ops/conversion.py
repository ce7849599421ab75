"""ONNX Constant, ConstantOfShape, Cast and CastLike."""

from __future__ import annotations

import numpy as np
from kiln.frontends.onnx.converter import element_type
from kiln.frontends.onnx.registry import onnx_op


@onnx_op("Constant")
def constant(ctx):
    for name, dtype in [("value", None), ("value_float", np.float32), ("value_floats", np.float32),
                        ("value_int", np.int64), ("value_ints", np.int64)]:
        if ctx.has_attr(name):
            return ctx.const(np.asarray(ctx.attr(name), dtype))
    if ctx.has_attr("value_string") or ctx.has_attr("value_strings"):
        value = ctx.attr("value_string", None)
        if value is None:
            value = ctx.attr("value_strings")
        return ctx.const(np.asarray(value, dtype=object))
    raise ctx.unsupported("sparse or missing constant value")


@onnx_op("ConstantOfShape", since=9)
def constant_of_shape(ctx):
    value = ctx.attr("value")
    value = np.zeros((), np.float32) if value is None else np.asarray(value).reshape(())
    return ctx.make("Broadcast", ctx.const(value), ctx.input(0), mode="numpy")


@onnx_op("Cast")
def cast(ctx):
    etype = element_type(ctx.attr("to"), ctx.where)
    return ctx.make("Convert", ctx.input(0), destination_type=etype)


@onnx_op("CastLike", since=15)
def cast_like(ctx):
    return ctx.make("ConvertLike", ctx.input(0), ctx.input(1))
