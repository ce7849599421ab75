"""Binary elementwise arithmetic with numpy-style broadcasting (``auto_broadcast="numpy"``).

Both inputs have the same element type and the output keeps it. Integer results wrap
around on overflow as the C++ types they model do.
"""

from __future__ import annotations

import numpy as np
from kiln.errors import ShapeInferenceError, UnsupportedOpError
from kiln.ir.op import Attr, AttrKind, Op
from kiln.ir.types import ElementType, broadcast_shapes


class BinaryElementwise(Op):
    """Base of two-input elementwise ops; subclasses define ``compute(node, a, b)``."""

    attributes = {"auto_broadcast": Attr(AttrKind.STR, "numpy")}
    num_inputs = (2, 2)

    @classmethod
    def infer(cls, node):
        a, b = node.inputs
        if a.element_type != b.element_type:
            raise ShapeInferenceError(
                f"node {node.name!r} ({cls.type_name}): element types differ: "
                f"{a.element_type.value} and {b.element_type.value}")
        cls.check_broadcast(node)
        try:
            shape = broadcast_shapes(a.shape, b.shape)
        except ValueError as error:
            raise ShapeInferenceError(f"node {node.name!r} ({cls.type_name}): {error}") from None
        return [(cls.output_type(a.element_type), shape)]

    @classmethod
    def check_broadcast(cls, node):
        mode = str(node.attrs.get("auto_broadcast", "numpy")).lower()
        if mode not in ("numpy", "none"):
            raise UnsupportedOpError(
                f"node {node.name!r} ({cls.type_name}): auto_broadcast={mode!r} is not supported "
                "(supported: numpy, none)")
        if mode == "none":
            a, b = node.inputs
            if a.shape is not None and b.shape is not None and len(a.shape) != len(b.shape):
                raise ShapeInferenceError(
                    f"node {node.name!r} ({cls.type_name}): auto_broadcast='none' needs equal shapes")

    @classmethod
    def output_type(cls, etype):
        return etype

    @classmethod
    def evaluate(cls, node, inputs):
        a, b = inputs
        out = np.asarray(cls.compute(node, a, b))
        etype = cls.output_type(ElementType.from_numpy(a.dtype))
        return [out.astype(etype.numpy, copy=False)]

    @staticmethod
    def compute(node, a, b):
        raise NotImplementedError


class Add(BinaryElementwise):
    type_name = "Add"

    @staticmethod
    def compute(node, a, b):
        return np.add(a, b)


class Subtract(BinaryElementwise):
    type_name = "Subtract"

    @staticmethod
    def compute(node, a, b):
        if a.dtype == np.bool_:
            return np.logical_xor(a, b)
        return np.subtract(a, b)


class Multiply(BinaryElementwise):
    type_name = "Multiply"

    @staticmethod
    def compute(node, a, b):
        return np.multiply(a, b)


class Divide(BinaryElementwise):
    """Divide ``a`` by ``b``; integers round toward -inf when ``m_pythondiv`` else toward zero.

    An integer division by zero gives 0 (OpenVINO leaves it undefined; this is deterministic).
    """

    type_name = "Divide"
    attributes = {"auto_broadcast": Attr(AttrKind.STR, "numpy"), "m_pythondiv": Attr(AttrKind.BOOL, True)}

    @staticmethod
    def compute(node, a, b):
        if a.dtype.kind not in "iu":
            return np.true_divide(a, b)
        a, b = np.broadcast_arrays(a, b)
        safe = np.where(b == 0, 1, b)
        if node.attrs["m_pythondiv"] or a.dtype.kind == "u":
            out = np.floor_divide(a, safe)
        else:
            quotient = np.floor_divide(a, safe)
            inexact = (quotient * safe != a) & ((a < 0) != (safe < 0))
            out = quotient + inexact.astype(a.dtype)
        return np.where(b == 0, 0, out)


class Power(BinaryElementwise):
    """Raise ``a`` to ``b``; for integers a negative exponent gives the truncated real power."""

    type_name = "Power"

    @staticmethod
    def compute(node, a, b):
        if a.dtype.kind in "iu" and np.any(b < 0):
            return np.trunc(np.power(a.astype(np.float64), b.astype(np.float64)))
        return np.power(a, b)


class Maximum(BinaryElementwise):
    type_name = "Maximum"

    @staticmethod
    def compute(node, a, b):
        return np.maximum(a, b)


class Minimum(BinaryElementwise):
    type_name = "Minimum"

    @staticmethod
    def compute(node, a, b):
        return np.minimum(a, b)


class SquaredDifference(BinaryElementwise):
    type_name = "SquaredDifference"

    @staticmethod
    def compute(node, a, b):
        diff = np.subtract(a, b)
        return diff * diff


class FloorMod(BinaryElementwise):
    """Remainder with the sign of the divisor: ``a - floor(a / b) * b`` (0 where ``b`` is integer 0)."""

    type_name = "FloorMod"
    version = "opset1"

    @staticmethod
    def compute(node, a, b):
        if a.dtype.kind in "iu":
            a, b = np.broadcast_arrays(a, b)
            return np.where(b == 0, 0, np.mod(a, np.where(b == 0, 1, b)))
        return np.mod(a, b)


class Mod(BinaryElementwise):
    """Remainder with the sign of the dividend (C ``fmod``; 0 where ``b`` is integer 0)."""

    type_name = "Mod"

    @staticmethod
    def compute(node, a, b):
        if a.dtype.kind in "iu":
            a, b = np.broadcast_arrays(a, b)
            return np.where(b == 0, 0, np.fmod(a, np.where(b == 0, 1, b)))
        return np.fmod(a, b)
