"""ONNX TopK, Unique and NonZero."""

from __future__ import annotations

import numpy as np
from kiln.frontends.onnx.registry import onnx_op
from kiln.ir import ElementType


@onnx_op("TopK")
def top_k(ctx):
    x = ctx.input(0)
    k = ctx.const(np.int64(ctx.attr("k"))) if ctx.opset < 10 else ctx.input(1)
    mode = "max" if ctx.attr("largest", 1) else "min"
    sort = "value" if ctx.attr("sorted", 1) else "none"
    node = ctx.make_node("TopK", x, k, axis=ctx.attr("axis", -1), mode=mode, sort=sort,
                         index_element_type=ElementType.i64, stable=True)
    return node.outputs


@onnx_op("Unique", since=11)
def unique(ctx):
    x = ctx.input(0)
    sort = bool(ctx.attr("sorted", 1))
    if ctx.has_attr("axis"):
        node = ctx.make_node("Unique", x, ctx.const(np.int64(ctx.attr("axis"))), sorted=sort)
    else:
        node = ctx.make_node("Unique", x, sorted=sort)
    return node.outputs


@onnx_op("NonZero", since=9)
def non_zero(ctx):
    return ctx.make("NonZero", ctx.input(0), output_type=ElementType.i64)
