"""Reductions over ``axes`` (an input; negative axes count from the end): ReduceSum, ...

``keep_dims`` keeps reduced axes as size 1. An empty ``axes`` reduces nothing.
"""

from __future__ import annotations

import numpy as np
from kiln.errors import ShapeInferenceError
from kiln.ir.op import Attr, AttrKind, Op
from kiln.ir.ops._shape_values import known_ints, normalize_axis


class Reduction(Op):
    """Base of reductions; subclasses define ``compute(x, axes, keepdims)``."""

    attributes = {"keep_dims": Attr(AttrKind.BOOL, False)}
    num_inputs = (2, 2)

    @classmethod
    def axes(cls, node, rank, axes):
        try:
            return tuple(sorted({normalize_axis(a, rank, "axis") for a in axes}))
        except ValueError as error:
            raise ShapeInferenceError(f"node {node.name!r} ({cls.type_name}): {error}") from None

    @classmethod
    def infer(cls, node):
        data, axes_port = node.inputs
        etype = cls.output_type(data.element_type)
        axes = known_ints(axes_port)
        if data.shape is None:
            return [(etype, None)]
        if axes is None:
            if node.attrs["keep_dims"]:
                return [(etype, (None,) * len(data.shape))]
            return [(etype, None)]
        chosen = cls.axes(node, len(data.shape), axes)
        if node.attrs["keep_dims"]:
            return [(etype, tuple(1 if i in chosen else d for i, d in enumerate(data.shape)))]
        return [(etype, tuple(d for i, d in enumerate(data.shape) if i not in chosen))]

    @classmethod
    def output_type(cls, etype):
        return etype

    @classmethod
    def evaluate(cls, node, inputs):
        data, axes = inputs
        chosen = cls.axes(node, data.ndim, [int(a) for a in axes.reshape(-1)])
        keep = node.attrs["keep_dims"]
        if not chosen:
            return [data.copy()]
        out = np.asarray(cls.compute(data, chosen, keep))
        return [out.astype(data.dtype, copy=False)]

    @staticmethod
    def compute(x, axes, keepdims):
        raise NotImplementedError


class ReduceSum(Reduction):
    type_name = "ReduceSum"

    @staticmethod
    def compute(x, axes, keepdims):
        return np.sum(x, axis=axes, keepdims=keepdims, dtype=x.dtype)


class ReduceMean(Reduction):
    type_name = "ReduceMean"

    @staticmethod
    def compute(x, axes, keepdims):
        if x.dtype.kind in "iu":
            count = int(np.prod([x.shape[a] for a in axes]))
            return np.sum(x, axis=axes, keepdims=keepdims, dtype=np.int64) // max(count, 1)
        return np.mean(x, axis=axes, keepdims=keepdims, dtype=np.float64 if x.dtype == np.float64 else None)


class ReduceMax(Reduction):
    type_name = "ReduceMax"

    @staticmethod
    def compute(x, axes, keepdims):
        if any(x.shape[a] == 0 for a in axes):
            low = -np.inf if x.dtype.kind == "f" else (np.iinfo(x.dtype).min if x.dtype.kind in "iu" else 0)
            shape = [1 if i in axes else d for i, d in enumerate(x.shape)] if keepdims else \
                [d for i, d in enumerate(x.shape) if i not in axes]
            return np.full(shape, low, dtype=x.dtype)
        return np.max(x, axis=axes, keepdims=keepdims)


class ReduceMin(Reduction):
    type_name = "ReduceMin"

    @staticmethod
    def compute(x, axes, keepdims):
        if any(x.shape[a] == 0 for a in axes):
            high = np.inf if x.dtype.kind == "f" else (np.iinfo(x.dtype).max if x.dtype.kind in "iu" else 1)
            shape = [1 if i in axes else d for i, d in enumerate(x.shape)] if keepdims else \
                [d for i, d in enumerate(x.shape) if i not in axes]
            return np.full(shape, high, dtype=x.dtype)
        return np.min(x, axis=axes, keepdims=keepdims)


class ReduceProd(Reduction):
    type_name = "ReduceProd"

    @staticmethod
    def compute(x, axes, keepdims):
        return np.prod(x, axis=axes, keepdims=keepdims, dtype=x.dtype)


class ReduceL1(Reduction):
    type_name = "ReduceL1"
    version = "opset4"

    @staticmethod
    def compute(x, axes, keepdims):
        return np.sum(np.abs(x), axis=axes, keepdims=keepdims, dtype=x.dtype)


class ReduceL2(Reduction):
    type_name = "ReduceL2"
    version = "opset4"

    @staticmethod
    def compute(x, axes, keepdims):
        if x.dtype.kind in "iu":
            return np.floor(np.sqrt(np.sum(np.square(x.astype(np.float64)), axis=axes, keepdims=keepdims)))
        return np.sqrt(np.sum(np.square(x), axis=axes, keepdims=keepdims))


class ReduceLogicalAnd(Reduction):
    type_name = "ReduceLogicalAnd"

    @staticmethod
    def compute(x, axes, keepdims):
        return np.all(x, axis=axes, keepdims=keepdims)


class ReduceLogicalOr(Reduction):
    type_name = "ReduceLogicalOr"

    @staticmethod
    def compute(x, axes, keepdims):
        return np.any(x, axis=axes, keepdims=keepdims)
