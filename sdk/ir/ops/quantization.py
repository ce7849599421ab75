"""FakeQuantize: quantize to ``levels`` steps and dequantize again, in one op."""

from __future__ import annotations

import numpy as np
from kiln.errors import ShapeInferenceError
from kiln.ir.op import Attr, AttrKind, Op
from kiln.ir.types import broadcast_shapes


class FakeQuantize(Op):
    """Map x onto ``levels`` evenly spaced values between output_low and output_high.

    Inputs: X, input_low, input_high, output_low, output_high (numpy-broadcast to X). Per element::

        x <= min(il, ih):  ol
        x >  max(il, ih):  oh
        otherwise:         round((x - il) / (ih - il) * (levels - 1)) / (levels - 1) * (oh - ol) + ol

    ``round`` goes half to even (C ``nearbyint``). Computed in f32 (f64 for f64); output has X's type.
    """

    type_name = "FakeQuantize"
    attributes = {"levels": Attr(AttrKind.INT), "auto_broadcast": Attr(AttrKind.STR, "numpy")}
    num_inputs = (5, 5)

    @classmethod
    def infer(cls, node):
        x = node.inputs[0]
        if node.attrs["levels"] < 2:
            raise ShapeInferenceError(f"node {node.name!r} (FakeQuantize): levels {node.attrs['levels']} < 2")
        for name, port in zip(("input_low", "input_high", "output_low", "output_high"), node.inputs[1:]):
            if port.element_type != x.element_type:
                raise ShapeInferenceError(
                    f"node {node.name!r} (FakeQuantize): {name} element type differs: "
                    f"{node.describe_inputs()}")
            try:
                shape = broadcast_shapes(x.shape, port.shape)
            except ValueError as error:
                raise ShapeInferenceError(f"node {node.name!r} (FakeQuantize): {name}: {error}") from None
            if x.shape is not None and shape is not None and len(shape) != len(x.shape):
                raise ShapeInferenceError(
                    f"node {node.name!r} (FakeQuantize): {name} has a higher rank than X: "
                    f"{node.describe_inputs()}")
        return [(x.element_type, x.shape)]

    @classmethod
    def evaluate(cls, node, inputs):
        x = inputs[0]
        dt = np.float64 if x.dtype == np.float64 else np.float32
        v, il, ih, ol, oh = (np.asarray(a).astype(dt) for a in inputs)
        steps = dt(node.attrs["levels"] - 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            q = np.round((v - il) / (ih - il) * steps) / steps * (oh - ol) + ol
        out = np.where(v <= np.minimum(il, ih), ol, np.where(v > np.maximum(il, ih), oh, q))
        return [np.broadcast_to(out, x.shape).astype(x.dtype)]
