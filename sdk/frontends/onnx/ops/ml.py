"""ONNX-ML (ai.onnx.ml) ops on tensors: Binarizer, ArrayFeatureExtractor, LabelEncoder."""

from __future__ import annotations

import numpy as np
from kiln.frontends.onnx.registry import onnx_op
from kiln.ir import ElementType

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


def _table(ctx, prefix: str, defaults: dict):
    """Return the first present attribute of ``prefix``_tensor / _int64s / _floats / _strings
    as a numpy array (strings as Python str objects), or None."""
    for suffix, dtype in (("tensor", None), ("int64s", np.int64), ("floats", np.float32), ("strings", object),
                          *defaults.items()):
        name = f"{prefix}_{suffix}"
        if ctx.has_attr(name):
            value = np.asarray(ctx.attr(name), dtype=dtype)
            if value.dtype.kind in "OS":
                text = [v.decode() if isinstance(v, bytes) else str(v) for v in value.reshape(-1)]
                value = np.asarray(text, dtype=object).reshape(value.shape)
            return value
    return None


@onnx_op("LabelEncoder", since=2, domain=ML)
def label_encoder(ctx):
    """Map each element equal to ``keys[i]`` to ``values[i]``, others to the default."""
    x = ctx.input(0)
    keys = _table(ctx, "keys", {})
    values = _table(ctx, "values", {})
    if keys is None or values is None or keys.size != values.size:
        raise ctx.unsupported("keys and values must be given and have one entry each")
    default = _table(ctx, "default", {"int64": np.int64, "float": np.float32, "string": object})
    if default is None:
        default = {"i": np.int64(-1), "f": np.float32(-0.0), "O": "_Unused"}.get(values.dtype.kind)
        if default is None:
            raise ctx.unsupported(f"no default for values of type {values.dtype}")
    default = np.asarray(default, dtype=values.dtype).reshape(-1)[:1].reshape(())
    matches = ctx.make("Equal", ctx.make("Unsqueeze", x, ctx.const([-1], np.int64)),
                       ctx.const(keys.reshape(-1).astype(x.element_type.numpy)))
    found = ctx.make("ReduceLogicalOr", matches, ctx.const([-1], np.int64), keep_dims=False)
    first = ctx.make_node("TopK", matches, ctx.const(np.int64(1)), axis=-1, mode="max", sort="none",
                          index_element_type=ElementType.i64, stable=True).output(1)
    first = ctx.make("Squeeze", first, ctx.const([-1], np.int64))
    mapped = ctx.make("Gather", ctx.const(values.reshape(-1)), first, ctx.const(np.int64(0)))
    return ctx.make("Select", found, mapped, ctx.const(default))
