"""Binary elementwise arithmetic with numpy-style broadcasting (``auto_broadcast="numpy"``)."""

from __future__ import annotations

import numpy as np
from kiln.errors import ShapeInferenceError
from kiln.ir.op import Attr, AttrKind, Op
from kiln.ir.types import ElementType, broadcast_shapes


class BinaryElementwise(Op):
    """Base of two-input elementwise ops; subclasses define ``compute(a, b)``."""

    attributes = {"auto_broadcast": Attr(AttrKind.STR, "numpy")}
    num_inputs = (2, 2)

    @classmethod
    def infer(cls, node):
        a, b = node.inputs
        if a.element_type != b.element_type:
            raise ShapeInferenceError(
                f"node {node.name!r} ({cls.type_name}): element types differ: "
                f"{a.element_type.value} and {b.element_type.value}")
        try:
            shape = broadcast_shapes(a.shape, b.shape)
        except ValueError as error:
            raise ShapeInferenceError(f"node {node.name!r} ({cls.type_name}): {error}") from None
        return [(cls.output_type(a.element_type), shape)]

    @classmethod
    def output_type(cls, etype):
        return etype

    @classmethod
    def evaluate(cls, node, inputs):
        a, b = inputs
        out = np.asarray(cls.compute(a, b))
        etype = cls.output_type(ElementType.from_numpy(a.dtype))
        return [out.astype(etype.numpy, copy=False)]

    @staticmethod
    def compute(a, b):
        raise NotImplementedError


class Add(BinaryElementwise):
    type_name = "Add"

    @staticmethod
    def compute(a, b):
        return np.add(a, b)


class Multiply(BinaryElementwise):
    type_name = "Multiply"

    @staticmethod
    def compute(a, b):
        return np.multiply(a, b)
