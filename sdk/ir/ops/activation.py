"""Activation functions: elementwise non-linearities that keep element type and shape.

Float inputs are computed in their own precision (f16/bf16 in f32) and returned in the
input type; nothing is promoted to f64.
"""

from __future__ import annotations

import math

import numpy as np
from kiln.errors import ShapeInferenceError, UnsupportedOpError
from kiln.ir.op import Attr, AttrKind, Op
from kiln.ir.types import broadcast_shapes

_ERF = np.frompyfunc(math.erf, 1, 1)


def erf(x: np.ndarray) -> np.ndarray:
    """Return the Gauss error function of ``x`` (libm's erf, exact to the last ulp), in x's dtype."""
    if x.size == 0:
        return x.copy()
    return _ERF(x.astype(np.float64)).astype(x.dtype)


def compute_dtype(dtype: np.dtype) -> np.dtype:
    """Return the dtype a float op computes in: f16/bf16 widen to f32, others stay."""
    return np.dtype(np.float32) if dtype.kind == "f" and dtype.itemsize < 4 else dtype


class UnaryElementwise(Op):
    """Base of one-input elementwise ops keeping type and shape; subclasses define ``compute``.

    Extra inputs (scalar parameters such as Selu's alpha) are passed to ``compute`` after x.
    """

    num_inputs = (1, 1)

    @classmethod
    def infer(cls, node):
        port = node.inputs[0]
        return [(port.element_type, port.shape)]

    @classmethod
    def evaluate(cls, node, inputs):
        x = inputs[0]
        work = x.astype(compute_dtype(x.dtype), copy=False) if x.dtype.kind == "f" else x
        extra = [np.asarray(v).astype(work.dtype, copy=False) if work.dtype.kind == "f" else v
                 for v in inputs[1:]]
        return [np.asarray(cls.compute(node, work, *extra)).astype(x.dtype, copy=False)]

    @staticmethod
    def compute(node, x, *extra):
        raise NotImplementedError


class FloatActivation(UnaryElementwise):
    """An activation defined on floating-point inputs only."""

    @classmethod
    def infer(cls, node):
        port = node.inputs[0]
        if not port.element_type.is_float:
            raise ShapeInferenceError(
                f"node {node.name!r} ({cls.type_name}): input must be floating-point, got "
                f"{node.describe_inputs()}")
        return super().infer(node)


class Relu(UnaryElementwise):
    type_name = "Relu"

    @staticmethod
    def compute(node, x):
        return np.maximum(x, np.zeros((), x.dtype))


class Sigmoid(FloatActivation):
    type_name = "Sigmoid"

    @staticmethod
    def compute(node, x):
        # exp of -|x| never overflows; the two branches give 1/(1+e^-x) on both sides.
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


class Tanh(UnaryElementwise):
    type_name = "Tanh"

    @staticmethod
    def compute(node, x):
        if x.dtype.kind in "iu":
            return np.round(np.tanh(x.astype(np.float64)))
        return np.tanh(x)


class Elu(FloatActivation):
    """``x`` for x > 0, else ``alpha * (exp(x) - 1)``."""

    type_name = "Elu"
    attributes = {"alpha": Attr(AttrKind.FLOAT)}

    @staticmethod
    def compute(node, x):
        alpha = x.dtype.type(node.attrs["alpha"])
        return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


class Selu(FloatActivation):
    """``lambda * x`` for x > 0, else ``lambda * alpha * (exp(x) - 1)``; alpha, lambda are inputs."""

    type_name = "Selu"
    num_inputs = (3, 3)

    @staticmethod
    def compute(node, x, alpha, lambda_):
        return lambda_ * np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


class Gelu(FloatActivation):
    """Gaussian error linear unit: ``x * Phi(x)`` exactly (ERF) or by the tanh formula (TANH)."""

    type_name = "Gelu"
    version = "opset7"
    versions = ("opset2", "opset7")
    attributes = {"approximation_mode": Attr(AttrKind.STR, "ERF")}

    @staticmethod
    def compute(node, x):
        mode = str(node.attrs["approximation_mode"]).upper()
        if mode == "ERF":
            return 0.5 * x * (1 + erf(x / x.dtype.type(math.sqrt(2.0))))
        if mode == "TANH":
            k = x.dtype.type(math.sqrt(2.0 / math.pi))
            return 0.5 * x * (1 + np.tanh(k * (x + x.dtype.type(0.044715) * x * x * x)))
        raise UnsupportedOpError(
            f"node {node.name!r} (Gelu): approximation_mode {mode!r} is not ERF or TANH")


class HSwish(FloatActivation):
    """``x * min(max(x + 3, 0), 6) / 6``."""

    type_name = "HSwish"
    version = "opset4"

    @staticmethod
    def compute(node, x):
        return x * np.clip(x + 3, 0, 6) / 6


class HSigmoid(FloatActivation):
    """``min(max(x + 3, 0), 6) / 6``."""

    type_name = "HSigmoid"
    version = "opset5"

    @staticmethod
    def compute(node, x):
        return np.clip(x + 3, 0, 6) / 6


class HardSigmoid(FloatActivation):
    """``max(0, min(1, alpha * x + beta))``; alpha and beta are scalar inputs."""

    type_name = "HardSigmoid"
    num_inputs = (3, 3)

    @staticmethod
    def compute(node, x, alpha, beta):
        return np.clip(alpha * x + beta, 0, 1)


class SoftPlus(FloatActivation):
    """``ln(1 + exp(x))``, computed without overflow."""

    type_name = "SoftPlus"
    version = "opset4"

    @staticmethod
    def compute(node, x):
        return np.logaddexp(x, np.zeros((), x.dtype))


class SoftSign(FloatActivation):
    """``x / (1 + |x|)``."""

    type_name = "SoftSign"
    version = "opset9"

    @staticmethod
    def compute(node, x):
        return x / (1 + np.abs(x))


class Mish(FloatActivation):
    """``x * tanh(softplus(x))``."""

    type_name = "Mish"
    version = "opset4"

    @staticmethod
    def compute(node, x):
        return x * np.tanh(np.logaddexp(x, np.zeros((), x.dtype)))


class Swish(FloatActivation):
    """``x * sigmoid(beta * x)``; beta is an optional scalar input (default 1)."""

    type_name = "Swish"
    version = "opset4"
    num_inputs = (1, 2)

    @staticmethod
    def compute(node, x, beta=None):
        z = x if beta is None else beta * x
        return x * Sigmoid.compute(node, z)


class Clamp(UnaryElementwise):
    """Clip to ``[min, max]``; for integer inputs min rounds up and max rounds down."""

    type_name = "Clamp"
    attributes = {"min": Attr(AttrKind.FLOAT), "max": Attr(AttrKind.FLOAT)}

    @classmethod
    def infer(cls, node):
        if float(node.attrs["min"]) > float(node.attrs["max"]):
            raise ShapeInferenceError(
                f"node {node.name!r} (Clamp): min {node.attrs['min']} is greater than "
                f"max {node.attrs['max']}")
        return super().infer(node)

    @staticmethod
    def compute(node, x):
        lo, hi = float(node.attrs["min"]), float(node.attrs["max"])
        if x.dtype.kind in "iu":
            info = np.iinfo(x.dtype)
            lo = int(np.clip(math.ceil(lo), info.min, info.max)) if math.isfinite(lo) else info.min
            hi = int(np.clip(math.floor(hi), info.min, info.max)) if math.isfinite(hi) else info.max
            return np.clip(x, x.dtype.type(lo), x.dtype.type(hi))
        return np.clip(x, x.dtype.type(lo), x.dtype.type(hi))


class PRelu(Op):
    """``x`` where x >= 0, else ``slope * x``.

    A 1-D slope whose length is the channel count (dim 1) of a rank >= 2 input applies per
    channel; any other slope broadcasts numpy-style against the input.
    """

    type_name = "PRelu"
    num_inputs = (2, 2)

    @classmethod
    def infer(cls, node):
        x, slope = node.inputs
        if x.element_type != slope.element_type:
            raise ShapeInferenceError(
                f"node {node.name!r} (PRelu): data and slope element types differ: {node.describe_inputs()}")
        if not cls._per_channel(x.shape, slope.shape):
            try:
                broadcast_shapes(x.shape, slope.shape)
            except ValueError as error:
                raise ShapeInferenceError(f"node {node.name!r} (PRelu): {error}") from None
        return [(x.element_type, x.shape)]

    @staticmethod
    def _per_channel(x_shape, slope_shape) -> bool:
        return (x_shape is not None and slope_shape is not None and len(slope_shape) == 1
                and len(x_shape) >= 2 and slope_shape[0] == x_shape[1] and slope_shape[0] != 1)

    @classmethod
    def evaluate(cls, node, inputs):
        x, slope = inputs
        if cls._per_channel(x.shape, slope.shape):
            slope = slope.reshape((1, -1) + (1,) * (x.ndim - 2))
        return [np.where(x < 0, x * slope, x).astype(x.dtype, copy=False)]


class Softmax(FloatActivation):
    """``exp(x - max) / sum(exp(x - max))`` along ``axis`` (negative counts from the end)."""

    type_name = "Softmax"
    version = "opset8"
    versions = ("opset1", "opset8")
    attributes = {"axis": Attr(AttrKind.INT, 1)}

    @classmethod
    def infer(cls, node):
        check_axis(node, node.attrs["axis"])
        return super().infer(node)

    @staticmethod
    def compute(node, x):
        axis = node.attrs["axis"]
        shifted = x - np.max(x, axis=axis, keepdims=True)
        e = np.exp(shifted)
        return e / np.sum(e, axis=axis, keepdims=True)


class LogSoftmax(FloatActivation):
    """``x - max - log(sum(exp(x - max)))`` along ``axis``."""

    type_name = "LogSoftmax"
    version = "opset5"
    attributes = {"axis": Attr(AttrKind.INT, 1)}

    @classmethod
    def infer(cls, node):
        check_axis(node, node.attrs["axis"])
        return super().infer(node)

    @staticmethod
    def compute(node, x):
        axis = node.attrs["axis"]
        shifted = x - np.max(x, axis=axis, keepdims=True)
        return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def check_axis(node, axis: int) -> None:
    """Raise ShapeInferenceError when ``axis`` is outside the input's known rank."""
    shape = node.inputs[0].shape
    if shape is not None and not -len(shape) <= axis < max(len(shape), 1):
        raise ShapeInferenceError(
            f"node {node.name!r} ({node.type_name}): axis {axis} is out of range for rank {len(shape)}")
