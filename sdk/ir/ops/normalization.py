"""Normalizations: BatchNormInference, MVN, NormalizeL2, LRN, GroupNormalization.

Statistics are computed in f32 (f64 for f64 inputs); outputs keep the input type.
"""

from __future__ import annotations

import numpy as np
from kiln.errors import ShapeInferenceError, UnsupportedOpError
from kiln.ir.op import Attr, AttrKind, Op


def work_dtype(dtype: np.dtype) -> np.dtype:
    """Return the dtype normalization statistics are computed in."""
    return np.dtype(np.float64) if dtype == np.float64 else np.dtype(np.float32)


def normalized_axes(node, index: int, rank: int | None) -> tuple[int, ...] | None:
    """Return input ``index``'s axes (a constant 1-D list) made non-negative, or None if not constant."""
    value = node.input_value(index)
    if value is None or rank is None:
        return None
    axes = []
    for axis in np.asarray(value).reshape(-1).tolist():
        if not -rank <= axis < rank:
            raise ShapeInferenceError(
                f"node {node.name!r} ({node.type_name}): axis {axis} is out of range for rank {rank}")
        axes.append(axis % rank)
    if len(set(axes)) != len(axes):
        raise ShapeInferenceError(f"node {node.name!r} ({node.type_name}): axes {value.tolist()} repeat")
    return tuple(axes)


class KeepShape(Op):
    """Base of normalizations whose output has the type and shape of input 0."""

    @classmethod
    def infer(cls, node):
        data = node.inputs[0]
        if not data.element_type.is_float:
            raise ShapeInferenceError(
                f"node {node.name!r} ({cls.type_name}): data must be floating-point, "
                f"got {node.describe_inputs()}")
        if len(node.inputs) > 1 and data.shape is not None:
            cls.check(node, len(data.shape))
        return [(data.element_type, data.shape)]

    @classmethod
    def check(cls, node, rank):
        """Raise ShapeInferenceError for inputs that do not fit a data tensor of ``rank``."""


class BatchNormInference(KeepShape):
    """``gamma * (x - mean) / sqrt(variance + epsilon) + beta`` per channel (dim 1).

    Inputs (opset5 order): data (N, C, ...), gamma, beta, mean, variance (each of length C).
    """

    type_name = "BatchNormInference"
    version = "opset5"
    attributes = {"epsilon": Attr(AttrKind.FLOAT)}
    num_inputs = (5, 5)

    @classmethod
    def check(cls, node, rank):
        if rank < 2:
            raise ShapeInferenceError(f"node {node.name!r} (BatchNormInference): data needs rank >= 2")
        channels = node.inputs[0].shape[1]
        for name, port in zip(("gamma", "beta", "mean", "variance"), node.inputs[1:]):
            if port.shape is None:
                continue
            if len(port.shape) != 1 or None not in (channels, port.shape[0]) and port.shape[0] != channels:
                raise ShapeInferenceError(
                    f"node {node.name!r} (BatchNormInference): {name} must be 1-D of {channels} channels, "
                    f"got {node.describe_inputs()}")

    @classmethod
    def evaluate(cls, node, inputs):
        x = inputs[0]
        dt = work_dtype(x.dtype)
        shape = (1, -1) + (1,) * (x.ndim - 2)
        gamma, beta, mean, var = (v.astype(dt).reshape(shape) for v in inputs[1:])
        scale = gamma / np.sqrt(var + dt.type(node.attrs["epsilon"]))
        return [((x.astype(dt) - mean) * scale + beta).astype(x.dtype)]


class MVN(KeepShape):
    """Mean-variance normalization over the ``axes`` input (opset6).

    ``(x - mean) / sqrt(var + eps)`` (inside_sqrt) or ``/ (sqrt(var) + eps)`` (outside_sqrt);
    only ``x - mean`` when ``normalize_variance`` is false. Negative axes count from the end.
    """

    type_name = "MVN"
    version = "opset6"
    attributes = {
        "normalize_variance": Attr(AttrKind.BOOL),
        "eps": Attr(AttrKind.FLOAT),
        "eps_mode": Attr(AttrKind.STR),
    }
    num_inputs = (2, 2)

    @classmethod
    def check(cls, node, rank):
        normalized_axes(node, 1, rank)
        if str(node.attrs["eps_mode"]).lower() not in ("inside_sqrt", "outside_sqrt"):
            raise UnsupportedOpError(
                f"node {node.name!r} (MVN): eps_mode {node.attrs['eps_mode']!r} is not "
                "inside_sqrt or outside_sqrt")

    @classmethod
    def evaluate(cls, node, inputs):
        x, axes = inputs
        dt = work_dtype(x.dtype)
        axes = tuple(int(a) % x.ndim for a in np.asarray(axes).reshape(-1)) if x.ndim else ()
        y = x.astype(dt)
        centered = y - y.mean(axis=axes, keepdims=True)
        if node.attrs["normalize_variance"]:
            var = np.mean(centered * centered, axis=axes, keepdims=True)
            eps = dt.type(node.attrs["eps"])
            if str(node.attrs["eps_mode"]).lower() == "inside_sqrt":
                centered = centered / np.sqrt(var + eps)
            else:
                centered = centered / (np.sqrt(var) + eps)
        return [centered.astype(x.dtype)]


class NormalizeL2(KeepShape):
    """``x / sqrt(sum(x^2 over axes) + eps)`` (eps_mode add) or ``/ sqrt(max(sum, eps))`` (max)."""

    type_name = "NormalizeL2"
    attributes = {"eps": Attr(AttrKind.FLOAT), "eps_mode": Attr(AttrKind.STR)}
    num_inputs = (2, 2)

    @classmethod
    def check(cls, node, rank):
        normalized_axes(node, 1, rank)
        if str(node.attrs["eps_mode"]).lower() not in ("add", "max"):
            raise UnsupportedOpError(
                f"node {node.name!r} (NormalizeL2): eps_mode {node.attrs['eps_mode']!r} is not add or max")

    @classmethod
    def evaluate(cls, node, inputs):
        x, axes = inputs
        dt = work_dtype(x.dtype)
        axes = tuple(int(a) % x.ndim for a in np.asarray(axes).reshape(-1)) if x.ndim else ()
        y = x.astype(dt)
        total = np.sum(y * y, axis=axes, keepdims=True)
        eps = dt.type(node.attrs["eps"])
        total = total + eps if str(node.attrs["eps_mode"]).lower() == "add" else np.maximum(total, eps)
        return [(y / np.sqrt(total)).astype(x.dtype)]


class LRN(KeepShape):
    """Local response normalization: ``x / (bias + alpha / size^len(axes) * window_sum(x^2))^beta``.

    The window spans ``size`` cells along each axis in ``axes``: (size - 1) // 2 before the
    cell and the rest after it, clipped at the tensor's edges.
    """

    type_name = "LRN"
    attributes = {
        "alpha": Attr(AttrKind.FLOAT),
        "beta": Attr(AttrKind.FLOAT),
        "bias": Attr(AttrKind.FLOAT),
        "size": Attr(AttrKind.INT),
    }
    num_inputs = (2, 2)

    @classmethod
    def check(cls, node, rank):
        normalized_axes(node, 1, rank)
        if node.attrs["size"] < 1:
            raise ShapeInferenceError(f"node {node.name!r} (LRN): size {node.attrs['size']} must be >= 1")

    @classmethod
    def evaluate(cls, node, inputs):
        x, axes = inputs
        dt = work_dtype(x.dtype)
        axes = [int(a) % x.ndim for a in np.asarray(axes).reshape(-1)]
        size = int(node.attrs["size"])
        before, after = (size - 1) // 2, size - 1 - (size - 1) // 2
        square = x.astype(dt) ** 2
        for axis in axes:
            pad = [(0, 0)] * x.ndim
            pad[axis] = (before + 1, after)
            running = np.cumsum(np.pad(square, pad), axis=axis, dtype=np.float64)
            length = x.shape[axis]
            upper = np.take(running, range(size, size + length), axis=axis)
            lower = np.take(running, range(0, length), axis=axis)
            square = (upper - lower).astype(dt)
        alpha, beta, bias = (dt.type(node.attrs[k]) for k in ("alpha", "beta", "bias"))
        scale = bias + alpha / dt.type(size ** len(axes)) * square
        return [(x.astype(dt) / scale ** beta).astype(x.dtype)]


class GroupNormalization(KeepShape):
    """Normalize each of ``num_groups`` channel groups over its channels and spatial cells.

    ``scale * (x - mean) / sqrt(var + epsilon) + bias`` with scale and bias of length C.
    """

    type_name = "GroupNormalization"
    version = "opset12"
    attributes = {"num_groups": Attr(AttrKind.INT), "epsilon": Attr(AttrKind.FLOAT)}
    num_inputs = (3, 3)

    @classmethod
    def check(cls, node, rank):
        groups = node.attrs["num_groups"]
        channels = node.inputs[0].shape[1] if rank >= 2 else None
        if rank < 2 or groups < 1 or (channels is not None and channels % groups):
            raise ShapeInferenceError(
                f"node {node.name!r} (GroupNormalization): {channels} channels do not split into "
                f"num_groups={groups}: {node.describe_inputs()}")

    @classmethod
    def evaluate(cls, node, inputs):
        x, scale, bias = inputs
        dt = work_dtype(x.dtype)
        groups = node.attrs["num_groups"]
        n, c = x.shape[:2]
        grouped = x.astype(dt).reshape(n, groups, -1)
        mean = grouped.mean(axis=2, keepdims=True)
        var = ((grouped - mean) ** 2).mean(axis=2, keepdims=True)
        normed = ((grouped - mean) / np.sqrt(var + dt.type(node.attrs["epsilon"]))).reshape(x.shape)
        shape = (1, c) + (1,) * (x.ndim - 2)
        return [(normed * scale.astype(dt).reshape(shape) + bias.astype(dt).reshape(shape)).astype(x.dtype)]
