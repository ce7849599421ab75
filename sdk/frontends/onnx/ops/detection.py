"""ONNX NonMaxSuppression -> NonMaxSuppression (opset9), trimmed to the valid rows."""

from __future__ import annotations

import numpy as np
from kiln.frontends.onnx.registry import onnx_op
from kiln.ir import ElementType


@onnx_op("NonMaxSuppression", since=10)
def non_max_suppression(ctx):
    inputs = [ctx.input(0), ctx.input(1)]
    for index, default in ((2, np.int64(0)), (3, np.float32(0)), (4, None)):
        port = ctx.optional_input(index)
        if port is None:
            if default is None:
                break
            port = ctx.const(default)
        inputs.append(port)
    encoding = "center" if ctx.attr("center_point_box", 0) else "corner"
    node = ctx.make_node("NonMaxSuppression", *inputs, box_encoding=encoding, sort_result_descending=False,
                         output_type=ElementType.i64)
    start, step = ctx.const([0], np.int64), ctx.const([1], np.int64)
    return ctx.make("Slice", node.output(0), start, node.output(2), step)
