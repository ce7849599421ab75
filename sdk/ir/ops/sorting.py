"""Ops that sort, select or count: TopK, Unique, NonZero, Bucketize."""

from __future__ import annotations

import numpy as np
from kiln.errors import ShapeInferenceError
from kiln.ir.op import Attr, AttrKind, Op
from kiln.ir.ops._shape_values import known_ints, normalize_axis
from kiln.ir.types import ElementType


def _error(node, message: str) -> ShapeInferenceError:
    return ShapeInferenceError(f"node {node.name!r} ({node.type_name}): {message}")


class TopK(Op):
    """Return the ``k`` largest (mode max) or smallest (mode min) values along ``axis`` and their
    indices, sorted by value (ties keep the lower index first when ``stable``), by index, or
    in no particular order."""

    type_name = "TopK"
    version = "opset11"
    versions = ("opset1", "opset3", "opset11")
    attributes = {
        "axis": Attr(AttrKind.INT), "mode": Attr(AttrKind.STR), "sort": Attr(AttrKind.STR),
        "index_element_type": Attr(AttrKind.ETYPE, ElementType.i32), "stable": Attr(AttrKind.BOOL, False),
    }
    num_inputs = (2, 2)

    @classmethod
    def infer(cls, node):
        data, k_port = node.inputs
        itype = node.attrs["index_element_type"]
        if data.shape is None:
            return [(data.element_type, None), (itype, None)]
        axis = normalize_axis(node.attrs["axis"], len(data.shape), "axis")
        k = known_ints(k_port)
        dim = data.shape[axis]
        size = None if k is None else (k[0] if dim is None else min(k[0], dim))
        shape = tuple(size if i == axis else d for i, d in enumerate(data.shape))
        return [(data.element_type, shape), (itype, shape)]

    @classmethod
    def evaluate(cls, node, inputs):
        data, k = inputs
        k = int(np.asarray(k).reshape(-1)[0])
        if k < 0:
            raise _error(node, f"k = {k} is negative")
        axis = normalize_axis(node.attrs["axis"], data.ndim, "axis")
        k = min(k, data.shape[axis])
        key = data
        if node.attrs["mode"] == "max":
            key = -data.astype(np.float64) if data.dtype.kind in "iub" else -data
        elif node.attrs["mode"] != "min":
            raise _error(node, f"unknown mode {node.attrs['mode']!r}")
        if data.dtype.kind == "f":
            key = np.where(np.isnan(data), -np.inf if node.attrs["mode"] == "max" else np.inf, key)
        order = np.argsort(key, axis=axis, kind="stable")
        indices = np.take(order, np.arange(k), axis=axis)
        if node.attrs["sort"] == "index":
            indices = np.sort(indices, axis=axis)
        values = np.take_along_axis(data, indices, axis=axis)
        return [values, indices.astype(node.attrs["index_element_type"].numpy)]


class Unique(Op):
    """Return the unique elements of ``data`` (flattened, or slices along ``axis``), sorted or
    in order of first occurrence; with the index of each one's first occurrence, the index in
    the output of each input element, and each one's count."""

    type_name = "Unique"
    version = "opset10"
    attributes = {
        "sorted": Attr(AttrKind.BOOL, True), "index_element_type": Attr(AttrKind.ETYPE, ElementType.i64),
        "count_element_type": Attr(AttrKind.ETYPE, ElementType.i64),
    }
    num_inputs = (1, 2)

    @classmethod
    def infer(cls, node):
        data = node.inputs[0]
        itype, ctype = node.attrs["index_element_type"], node.attrs["count_element_type"]
        if len(node.inputs) > 1:
            axis = known_ints(node.inputs[1])
            if axis is None or data.shape is None:
                return [(data.element_type, None), (itype, (None,)), (itype, (None,)), (ctype, (None,))]
            axis = normalize_axis(axis[0], len(data.shape), "axis")
            shape = tuple(None if i == axis else d for i, d in enumerate(data.shape))
            return [(data.element_type, shape), (itype, (None,)), (itype, (data.shape[axis],)),
                    (ctype, (None,))]
        total = None
        if data.shape is not None and all(d is not None for d in data.shape):
            total = int(np.prod(data.shape, dtype=np.int64))
        return [(data.element_type, (None,)), (itype, (None,)), (itype, (total,)), (ctype, (None,))]

    @classmethod
    def evaluate(cls, node, inputs):
        data = inputs[0]
        if len(inputs) > 1:
            axis = normalize_axis(int(inputs[1].reshape(-1)[0]), data.ndim, "axis")
            moved = np.moveaxis(data, axis, 0)
            rows = moved.reshape(moved.shape[0], -1)
            _, first, inverse, counts = np.unique(rows, axis=0, return_index=True, return_inverse=True,
                                                  return_counts=True)
        else:
            axis = None
            _, first, inverse, counts = np.unique(data.reshape(-1), return_index=True, return_inverse=True,
                                                  return_counts=True)
        inverse = inverse.reshape(-1)
        if not node.attrs["sorted"]:
            order = np.argsort(first, kind="stable")
            rank = np.empty_like(order)
            rank[order] = np.arange(order.size)
            first, counts, inverse = first[order], counts[order], rank[inverse]
        if axis is None:
            unique = data.reshape(-1)[first]
        else:
            unique = np.take(data, first, axis=axis)
        itype, ctype = node.attrs["index_element_type"].numpy, node.attrs["count_element_type"].numpy
        return [unique, first.astype(itype), inverse.astype(itype), counts.astype(ctype)]


class NonZero(Op):
    """Return the indices of the non-zero elements of ``data`` as ``[rank, count]`` (row-major order)."""

    type_name = "NonZero"
    version = "opset3"
    attributes = {"output_type": Attr(AttrKind.ETYPE, ElementType.i64)}
    num_inputs = (1, 1)

    @classmethod
    def infer(cls, node):
        shape = node.inputs[0].shape
        return [(node.attrs["output_type"], None if shape is None else (len(shape), None))]

    @classmethod
    def evaluate(cls, node, inputs):
        data = inputs[0]
        dtype = node.attrs["output_type"].numpy
        if data.ndim == 0:
            return [np.zeros((0, 1 if bool(data) else 0), dtype)]
        return [np.asarray(np.nonzero(data), dtype=dtype).reshape(data.ndim, -1)]


class Bucketize(Op):
    """Return, for each element of ``data``, the index of its bucket among the sorted
    ``buckets`` boundaries (``with_right_bound``: buckets include their right boundary)."""

    type_name = "Bucketize"
    version = "opset3"
    attributes = {"output_type": Attr(AttrKind.ETYPE, ElementType.i64),
                  "with_right_bound": Attr(AttrKind.BOOL, True)}
    num_inputs = (2, 2)

    @classmethod
    def infer(cls, node):
        return [(node.attrs["output_type"], node.inputs[0].shape)]

    @classmethod
    def evaluate(cls, node, inputs):
        data, buckets = inputs
        side = "left" if node.attrs["with_right_bound"] else "right"
        return [np.searchsorted(buckets, data, side=side).astype(node.attrs["output_type"].numpy)]
