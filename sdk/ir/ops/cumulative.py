"""CumSum: running sums along an axis."""

from __future__ import annotations

import numpy as np
from kiln.ir.op import Attr, AttrKind, Op
from kiln.ir.ops._shape_values import normalize_axis


class CumSum(Op):
    """Return running sums of ``data`` along ``axis`` (an input, default 0); ``exclusive`` leaves
    each element out of its own sum; ``reverse`` sums from the end."""

    type_name = "CumSum"
    version = "opset3"
    attributes = {"exclusive": Attr(AttrKind.BOOL, False), "reverse": Attr(AttrKind.BOOL, False)}
    num_inputs = (1, 2)

    @classmethod
    def infer(cls, node):
        data = node.inputs[0]
        return [(data.element_type, data.shape)]

    @classmethod
    def evaluate(cls, node, inputs):
        data = inputs[0]
        if data.ndim == 0:
            return [data.copy()]
        axis = normalize_axis(int(inputs[1].reshape(-1)[0]) if len(inputs) > 1 else 0, data.ndim, "axis")
        x = np.flip(data, axis) if node.attrs["reverse"] else data
        out = np.cumsum(x, axis=axis, dtype=data.dtype)
        if node.attrs["exclusive"]:
            out = out - x
        if node.attrs["reverse"]:
            out = np.flip(out, axis)
        return [np.ascontiguousarray(out)]
