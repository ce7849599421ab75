"""Comparison, logical and bitwise elementwise ops (numpy broadcasting).

Comparisons take two inputs of one element type and give ``boolean``; logical ops take
and give ``boolean``; bitwise ops take integers or booleans and keep the type.
"""

from __future__ import annotations

import numpy as np
from kiln.errors import ShapeInferenceError
from kiln.ir.op import Op
from kiln.ir.ops.arithmetic import BinaryElementwise
from kiln.ir.types import ElementType


class Comparison(BinaryElementwise):
    """Base of comparisons: the output is ``boolean``."""

    @classmethod
    def output_type(cls, etype):
        return ElementType.boolean


class Equal(Comparison):
    type_name = "Equal"

    @staticmethod
    def compute(node, a, b):
        return np.equal(a, b)


class NotEqual(Comparison):
    type_name = "NotEqual"

    @staticmethod
    def compute(node, a, b):
        return np.not_equal(a, b)


class Less(Comparison):
    type_name = "Less"

    @staticmethod
    def compute(node, a, b):
        return np.less(a, b)


class LessEqual(Comparison):
    type_name = "LessEqual"

    @staticmethod
    def compute(node, a, b):
        return np.less_equal(a, b)


class Greater(Comparison):
    type_name = "Greater"

    @staticmethod
    def compute(node, a, b):
        return np.greater(a, b)


class GreaterEqual(Comparison):
    type_name = "GreaterEqual"

    @staticmethod
    def compute(node, a, b):
        return np.greater_equal(a, b)


class LogicalBinary(BinaryElementwise):
    """Base of two-input logical ops on ``boolean`` tensors."""

    @classmethod
    def infer(cls, node):
        for port in node.inputs:
            if port.element_type != ElementType.boolean:
                raise ShapeInferenceError(
                    f"node {node.name!r} ({cls.type_name}): inputs must be boolean, got "
                    f"{node.describe_inputs()}")
        return super().infer(node)


class LogicalAnd(LogicalBinary):
    type_name = "LogicalAnd"

    @staticmethod
    def compute(node, a, b):
        return np.logical_and(a, b)


class LogicalOr(LogicalBinary):
    type_name = "LogicalOr"

    @staticmethod
    def compute(node, a, b):
        return np.logical_or(a, b)


class LogicalXor(LogicalBinary):
    type_name = "LogicalXor"

    @staticmethod
    def compute(node, a, b):
        return np.logical_xor(a, b)


class LogicalNot(Op):
    """Negate a ``boolean`` tensor."""

    type_name = "LogicalNot"
    num_inputs = (1, 1)

    @classmethod
    def infer(cls, node):
        port = node.inputs[0]
        if port.element_type != ElementType.boolean:
            raise ShapeInferenceError(
                f"node {node.name!r} (LogicalNot): input must be boolean, got {node.describe_inputs()}")
        return [(port.element_type, port.shape)]

    @classmethod
    def evaluate(cls, node, inputs):
        return [np.logical_not(inputs[0])]


class Bitwise(BinaryElementwise):
    """Base of two-input bitwise ops on integer or ``boolean`` tensors."""

    version = "opset13"

    @classmethod
    def infer(cls, node):
        etype = node.inputs[0].element_type
        if not (etype.is_integer or etype == ElementType.boolean):
            raise ShapeInferenceError(
                f"node {node.name!r} ({cls.type_name}): inputs must be integer or boolean, got "
                f"{node.describe_inputs()}")
        return super().infer(node)


class BitwiseAnd(Bitwise):
    type_name = "BitwiseAnd"

    @staticmethod
    def compute(node, a, b):
        return np.bitwise_and(a, b)


class BitwiseOr(Bitwise):
    type_name = "BitwiseOr"

    @staticmethod
    def compute(node, a, b):
        return np.bitwise_or(a, b)


class BitwiseXor(Bitwise):
    type_name = "BitwiseXor"

    @staticmethod
    def compute(node, a, b):
        return np.bitwise_xor(a, b)


class BitwiseLeftShift(Bitwise):
    """Shift ``a`` left by ``b`` bits; shifts of the bit width or more give 0."""

    type_name = "BitwiseLeftShift"
    version = "opset15"

    @staticmethod
    def compute(node, a, b):
        bits = a.dtype.itemsize * 8
        a, b = np.broadcast_arrays(a, b)
        inside = (b >= 0) & (b < bits)
        return np.where(inside, np.left_shift(a, np.where(inside, b, 0).astype(a.dtype)), 0)


class BitwiseRightShift(Bitwise):
    """Shift ``a`` right by ``b`` bits (arithmetic for signed types).

    A count of the bit width or more, or a negative one (a huge count read as unsigned),
    leaves only the sign: 0, or -1 for negative signed values.
    """

    type_name = "BitwiseRightShift"
    version = "opset15"

    @staticmethod
    def compute(node, a, b):
        bits = a.dtype.itemsize * 8
        a, b = np.broadcast_arrays(a, b)
        clipped = np.clip(b, 0, bits - 1).astype(a.dtype)
        shifted = np.right_shift(a, clipped)
        fill = np.where(a < 0, -1, 0) if a.dtype.kind == "i" else np.zeros_like(a)
        return np.where((b >= bits) | (b < 0), fill, shifted)


class BitwiseNot(Op):
    """Invert every bit of an integer tensor (logical not of a ``boolean`` one)."""

    type_name = "BitwiseNot"
    version = "opset13"
    num_inputs = (1, 1)

    @classmethod
    def infer(cls, node):
        port = node.inputs[0]
        if not (port.element_type.is_integer or port.element_type == ElementType.boolean):
            raise ShapeInferenceError(
                f"node {node.name!r} (BitwiseNot): input must be integer or boolean, got "
                f"{node.describe_inputs()}")
        return [(port.element_type, port.shape)]

    @classmethod
    def evaluate(cls, node, inputs):
        return [np.invert(inputs[0])]
