"""Element type conversion: Convert (to a named type) and ConvertLike (to another input's type)."""

from __future__ import annotations

import numpy as np
from kiln.ir.op import Attr, AttrKind, Op
from kiln.ir.types import ElementType


def convert(x: np.ndarray, etype: ElementType) -> np.ndarray:
    """Return ``x`` as ``etype``: floats to integers round toward zero and saturate (NaN to 0);
    anything to boolean is ``x != 0``; u4/i4 wrap to 4 bits."""
    target = etype.numpy
    if etype is ElementType.boolean:
        return x != 0
    if x.dtype.kind == "f" and target.kind in "iu":
        info = np.iinfo(target)
        wide = np.nan_to_num(np.trunc(x.astype(np.float64)), nan=0.0)
        out = np.clip(wide, info.min, info.max).astype(target)
    else:
        with np.errstate(all="ignore"):
            out = x.astype(target)
    if etype is ElementType.u4:
        out = out & np.uint8(0xF)
    elif etype is ElementType.i4:
        out = ((out.astype(np.int16) + 8) & 0xF) - 8
        out = out.astype(np.int8)
    return out


class Convert(Op):
    """Convert ``data`` to ``destination_type``."""

    type_name = "Convert"
    attributes = {"destination_type": Attr(AttrKind.ETYPE)}
    num_inputs = (1, 1)

    @classmethod
    def infer(cls, node):
        return [(node.attrs["destination_type"], node.inputs[0].shape)]

    @classmethod
    def evaluate(cls, node, inputs):
        return [convert(inputs[0], node.attrs["destination_type"])]


class ConvertLike(Op):
    """Convert ``data`` to the element type of ``like``."""

    type_name = "ConvertLike"
    num_inputs = (2, 2)

    @classmethod
    def infer(cls, node):
        return [(node.inputs[1].element_type, node.inputs[0].shape)]

    @classmethod
    def evaluate(cls, node, inputs):
        return [convert(inputs[0], ElementType.from_numpy(inputs[1].dtype))]
