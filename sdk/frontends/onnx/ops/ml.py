"""ONNX-ML (ai.onnx.ml) ops on tensors: Binarizer, ArrayFeatureExtractor."""

from __future__ import annotations

import numpy as np
from kiln.frontends.onnx.registry import onnx_op

ML = "ai.onnx.ml"


@onnx_op("Binarizer", domain=ML)
def binarizer(ctx):
    x = ctx.input(0)
    dtype = x.element_type.numpy
    above = ctx.make("Greater", x, ctx.const(np.asarray(ctx.attr("threshold", 0.0), dtype)))
    return ctx.make("Select", above, ctx.const(np.ones((), dtype)), ctx.const(np.zeros((), dtype)))


@onnx_op("ArrayFeatureExtractor", domain=ML)
def array_feature_extractor(ctx):
    x, indices = ctx.input(0), ctx.input(1)
    flat = ctx.make("Reshape", indices, ctx.const([-1], np.int64), special_zero=False)
    return ctx.make("Gather", x, flat, ctx.const(np.int64(-1)))
