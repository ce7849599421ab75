"""Elementwise math functions (exp, log, trigonometry, rounding) and float classification.

Each keeps the input's element type and shape (IsNaN/IsInf/IsFinite give ``boolean``).
Transcendental functions on integer inputs are computed in f64 and rounded to nearest.
"""

from __future__ import annotations

import numpy as np
from kiln.errors import ShapeInferenceError, UnsupportedOpError
from kiln.ir.op import Attr, AttrKind, Op
from kiln.ir.ops.activation import UnaryElementwise, erf
from kiln.ir.types import ElementType


class Transcendental(UnaryElementwise):
    """A real function ``fn``; integer inputs are evaluated in f64 and rounded."""

    fn = None

    @classmethod
    def compute(cls, node, x):
        if x.dtype.kind in "iub":
            return np.round(cls.fn(x.astype(np.float64)))
        return cls.fn(x)


class Exp(Transcendental):
    type_name = "Exp"
    fn = staticmethod(np.exp)


class Log(Transcendental):
    type_name = "Log"
    fn = staticmethod(np.log)


class Sqrt(Transcendental):
    type_name = "Sqrt"
    fn = staticmethod(np.sqrt)


class Erf(Transcendental):
    type_name = "Erf"
    fn = staticmethod(erf)


class Sin(Transcendental):
    type_name = "Sin"
    fn = staticmethod(np.sin)


class Cos(Transcendental):
    type_name = "Cos"
    fn = staticmethod(np.cos)


class Tan(Transcendental):
    type_name = "Tan"
    fn = staticmethod(np.tan)


class Asin(Transcendental):
    type_name = "Asin"
    fn = staticmethod(np.arcsin)


class Acos(Transcendental):
    type_name = "Acos"
    fn = staticmethod(np.arccos)


class Atan(Transcendental):
    type_name = "Atan"
    fn = staticmethod(np.arctan)


class Sinh(Transcendental):
    type_name = "Sinh"
    fn = staticmethod(np.sinh)


class Cosh(Transcendental):
    type_name = "Cosh"
    fn = staticmethod(np.cosh)


class Asinh(Transcendental):
    type_name = "Asinh"
    version = "opset4"
    fn = staticmethod(np.arcsinh)


class Acosh(Transcendental):
    type_name = "Acosh"
    version = "opset4"
    fn = staticmethod(np.arccosh)


class Atanh(Transcendental):
    type_name = "Atanh"
    version = "opset4"
    fn = staticmethod(np.arctanh)


class Abs(UnaryElementwise):
    type_name = "Abs"

    @staticmethod
    def compute(node, x):
        return np.abs(x)


class Negative(UnaryElementwise):
    type_name = "Negative"

    @staticmethod
    def compute(node, x):
        return np.negative(x)


class Sign(UnaryElementwise):
    type_name = "Sign"

    @staticmethod
    def compute(node, x):
        return np.sign(x)


class Floor(UnaryElementwise):
    type_name = "Floor"

    @staticmethod
    def compute(node, x):
        return x if x.dtype.kind in "iub" else np.floor(x)


class Ceiling(UnaryElementwise):
    type_name = "Ceiling"

    @staticmethod
    def compute(node, x):
        return x if x.dtype.kind in "iub" else np.ceil(x)


class Round(UnaryElementwise):
    """Round to the nearest integer; ties go to even (``half_to_even``) or away from zero."""

    type_name = "Round"
    version = "opset5"
    attributes = {"mode": Attr(AttrKind.STR, "half_to_even")}

    @staticmethod
    def compute(node, x):
        mode = node.attrs["mode"]
        if x.dtype.kind in "iub":
            return x
        if mode == "half_to_even":
            return np.round(x)
        if mode == "half_away_from_zero":
            return np.sign(x) * np.floor(np.abs(x) + x.dtype.type(0.5))
        raise UnsupportedOpError(
            f"node {node.name!r} (Round): mode {mode!r} is not half_to_even or half_away_from_zero")


class FloatClassifier(Op):
    """Base of IsNaN / IsInf / IsFinite: a floating-point input, a ``boolean`` output."""

    version = "opset10"
    num_inputs = (1, 1)

    @classmethod
    def infer(cls, node):
        port = node.inputs[0]
        if not port.element_type.is_float:
            raise ShapeInferenceError(
                f"node {node.name!r} ({cls.type_name}): input must be floating-point, got "
                f"{node.describe_inputs()}")
        return [(ElementType.boolean, port.shape)]

    @classmethod
    def evaluate(cls, node, inputs):
        return [np.asarray(cls.classify(node, inputs[0].astype(np.float32, copy=False)))]


class IsNaN(FloatClassifier):
    type_name = "IsNaN"

    @staticmethod
    def classify(node, x):
        return np.isnan(x)


class IsFinite(FloatClassifier):
    type_name = "IsFinite"

    @staticmethod
    def classify(node, x):
        return np.isfinite(x)


class IsInf(FloatClassifier):
    """True where x is +inf (if ``detect_positive``) or -inf (if ``detect_negative``)."""

    type_name = "IsInf"
    attributes = {"detect_negative": Attr(AttrKind.BOOL, True), "detect_positive": Attr(AttrKind.BOOL, True)}

    @staticmethod
    def classify(node, x):
        positive = np.isposinf(x) if node.attrs["detect_positive"] else np.zeros(x.shape, bool)
        negative = np.isneginf(x) if node.attrs["detect_negative"] else np.zeros(x.shape, bool)
        return positive | negative
