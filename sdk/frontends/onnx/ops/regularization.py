"""ONNX Dropout at inference: the identity, with an all-true mask output when one is asked for."""

from __future__ import annotations

import numpy as np
from kiln.frontends.onnx.registry import onnx_op
from kiln.ir import ElementType
from kiln.ir.types import is_static


@onnx_op("Dropout", since=7)
def dropout(ctx):
    """Pass input 0 through; reject ``training_mode`` set to true (random masks are not inference)
    unless the ratio is a constant 0, where training changes nothing."""
    x = ctx.input(0)
    ratio = ctx.input_value(1) if ctx.opset >= 12 else None
    if ctx.opset >= 12 and not (ratio is not None and float(np.asarray(ratio).reshape(-1)[0]) == 0.0):
        training = ctx.optional_input(2)
        if training is not None:
            value = ctx.input_value(2)
            if value is None:
                raise ctx.unsupported("training_mode must be a constant for inference")
            if bool(np.asarray(value).reshape(-1)[0]):
                raise ctx.unsupported("training_mode=true (random dropout) is not inference")
    if ctx.num_outputs < 2 or not ctx.proto.output[1]:
        return x
    mask_type = np.bool_ if ctx.opset >= 10 else x.element_type.numpy
    if is_static(x.shape):
        mask = ctx.const(np.ones(x.shape, mask_type))
    else:
        shape = ctx.make("ShapeOf", x, output_type=ElementType.i64)
        mask = ctx.make("Broadcast", ctx.const(np.ones((), mask_type)), shape, mode="numpy")
    return [x, mask]
