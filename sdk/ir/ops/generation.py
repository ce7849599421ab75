"""Ops that generate tensors: Range, Eye, OneHot."""

from __future__ import annotations

import math

import numpy as np
from kiln.errors import ShapeInferenceError
from kiln.ir.op import Attr, AttrKind, Op
from kiln.ir.ops._shape_values import known_ints, known_value, normalize_axis


def _error(node, message: str) -> ShapeInferenceError:
    return ShapeInferenceError(f"node {node.name!r} ({node.type_name}): {message}")


def _scalar(node, array, what: str):
    array = np.asarray(array)
    if array.size != 1:
        raise _error(node, f"{what} must hold one value, got shape {list(array.shape)}")
    return array.reshape(()).item()


class Range(Op):
    """Return ``start, start+step, ...`` below ``stop`` (above it for negative ``step``) as
    ``output_type``; the count is ``max(ceil((stop-start)/step), 0)``."""

    type_name = "Range"
    version = "opset4"
    attributes = {"output_type": Attr(AttrKind.ETYPE)}
    num_inputs = (3, 3)

    @classmethod
    def count(cls, node, start, stop, step) -> int:
        if step == 0:
            raise _error(node, "step is 0")
        return max(math.ceil((stop - start) / step), 0)

    @classmethod
    def infer(cls, node):
        values = [known_value(p) for p in node.inputs]
        etype = node.attrs["output_type"]
        if any(v is None for v in values):
            return [(etype, (None,))]
        start, stop, step = (_scalar(node, v, n) for v, n in zip(values, ("start", "stop", "step")))
        return [(etype, (cls.count(node, start, stop, step),))]

    @classmethod
    def evaluate(cls, node, inputs):
        start, stop, step = (_scalar(node, v, n) for v, n in zip(inputs, ("start", "stop", "step")))
        dtype = node.attrs["output_type"].numpy
        n = cls.count(node, start, stop, step)
        values = np.asarray(start, dtype) + np.arange(n, dtype=dtype) * np.asarray(step, dtype)
        return [values.astype(dtype)]


class Eye(Op):
    """Return a ``num_rows`` x ``num_columns`` matrix (batched by ``batch_shape``) of ones on the
    diagonal shifted by ``diagonal_index`` (positive: above), zeros elsewhere, as ``output_type``."""

    type_name = "Eye"
    version = "opset9"
    attributes = {"output_type": Attr(AttrKind.ETYPE)}
    num_inputs = (3, 4)

    @classmethod
    def infer(cls, node):
        rows, cols = known_ints(node.inputs[0]), known_ints(node.inputs[1])
        batch = known_ints(node.inputs[3]) if len(node.inputs) > 3 else []
        etype = node.attrs["output_type"]
        if batch is None:
            return [(etype, None)]
        matrix = (None if rows is None else rows[0], None if cols is None else cols[0])
        return [(etype, tuple(batch) + matrix)]

    @classmethod
    def evaluate(cls, node, inputs):
        rows, cols, k = (int(_scalar(node, v, n)) for v, n in zip(inputs, ("num_rows", "num_columns",
                                                                          "diagonal_index")))
        matrix = np.eye(rows, cols, k=k, dtype=node.attrs["output_type"].numpy)
        batch = [int(v) for v in inputs[3].reshape(-1)] if len(inputs) > 3 else []
        return [np.broadcast_to(matrix, tuple(batch) + matrix.shape).copy()]


class OneHot(Op):
    """Return ``on_value`` where the new ``axis`` index equals ``indices``, else ``off_value``;
    ``depth`` sets the new axis' size. Negative indices count from ``depth`` when
    ``negative_indices_mode`` is "normalize", and match nothing when it is "ignore_negative"."""

    type_name = "OneHot"
    version = "opset16"
    versions = ("opset1", "opset16")
    attributes = {"axis": Attr(AttrKind.INT), "negative_indices_mode": Attr(AttrKind.STR, "ignore_negative")}
    num_inputs = (4, 4)

    @classmethod
    def infer(cls, node):
        indices, depth = node.inputs[0], known_ints(node.inputs[1])
        etype = node.inputs[2].element_type
        if indices.shape is None:
            return [(etype, None)]
        rank = len(indices.shape) + 1
        axis = normalize_axis(node.attrs["axis"], rank, "axis")
        shape = list(indices.shape)
        shape.insert(axis, None if depth is None else depth[0])
        return [(etype, tuple(shape))]

    @classmethod
    def evaluate(cls, node, inputs):
        indices, depth, on, off = inputs
        depth = int(_scalar(node, depth, "depth"))
        indices = indices.astype(np.int64)
        if node.attrs["negative_indices_mode"] == "normalize":
            indices = np.where(indices < 0, indices + depth, indices)
        axis = normalize_axis(node.attrs["axis"], indices.ndim + 1, "axis")
        hot = np.expand_dims(indices, axis) == np.arange(depth).reshape(
            [depth if i == axis else 1 for i in range(indices.ndim + 1)])
        return [np.where(hot, on.reshape(()), off.reshape(())).astype(on.dtype)]
