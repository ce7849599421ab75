"""Pooling over the spatial axes of N, C, *spatial tensors: max, average, adaptive.

``rounding_type`` is ``floor``, ``ceil`` or ``ceil_torch`` (ceil, but a last window that
would start in the end padding is dropped, as PyTorch and ONNX do).
"""

from __future__ import annotations

import numpy as np
from kiln.errors import ShapeInferenceError
from kiln.ir.op import Attr, AttrKind, Op
from kiln.ir.ops.convolution import extract_windows, window_geometry
from kiln.ir.types import ElementType

_WINDOW_ATTRS = {
    "strides": Attr(AttrKind.INTS),
    "pads_begin": Attr(AttrKind.INTS),
    "pads_end": Attr(AttrKind.INTS),
    "kernel": Attr(AttrKind.INTS),
    "rounding_type": Attr(AttrKind.STR, "floor"),
    "auto_pad": Attr(AttrKind.STR, "explicit"),
}


def pooled_shape(node) -> tuple | None:
    """Return the output shape of a pooling node from its input shape and window attributes."""
    data = node.inputs[0]
    kernel = list(node.attrs["kernel"])
    if data.shape is None:
        return None
    if len(data.shape) != len(kernel) + 2:
        raise ShapeInferenceError(
            f"node {node.name!r} ({node.type_name}): input rank {len(data.shape)} does not match a "
            f"{len(kernel)}-d kernel {kernel}")
    _, _, spatial = window_geometry(node, data.shape[2:], kernel)
    return (*data.shape[:2], *spatial)


def windows(node, x: np.ndarray, fill) -> np.ndarray:
    """Return the pooling windows of ``x`` as (N, C, taps, *out), padded with ``fill``."""
    kernel = list(node.attrs["kernel"])
    rank = len(kernel)
    begins, ends, out = window_geometry(node, x.shape[2:], kernel)
    strides = node.attrs.get("strides") or [1] * rank
    dilations = node.attrs.get("dilations") or [1] * rank
    return extract_windows(x, kernel, strides, dilations, begins, ends, out, fill=fill)


class MaxPool(Op):
    """Max over each window; output 1 holds the argmax as an index into the flattened input.

    Padding never wins. Indices count from the start of the tensor (axis 0) in row-major
    order, or from dimension ``axis`` on; their type is ``index_element_type`` (i32/i64).
    """

    type_name = "MaxPool"
    version = "opset14"
    versions = ("opset1", "opset8", "opset14")
    attributes = {
        **_WINDOW_ATTRS,
        "dilations": Attr(AttrKind.INTS, []),
        "index_element_type": Attr(AttrKind.ETYPE, ElementType.i64),
        "axis": Attr(AttrKind.INT, 0),
    }
    num_inputs = (1, 1)

    @classmethod
    def infer(cls, node):
        data = node.inputs[0]
        index_type = node.attrs["index_element_type"]
        if not isinstance(index_type, ElementType):
            index_type = node.attrs["index_element_type"] = ElementType(str(index_type))
        shape = pooled_shape(node)
        return [(data.element_type, shape), (index_type, shape)]

    @classmethod
    def evaluate(cls, node, inputs):
        x = inputs[0]
        if x.dtype.kind == "f":
            lowest = -np.inf
        else:
            lowest = np.iinfo(x.dtype).min if x.dtype.kind in "iu" else False
        cols = windows(node, x, lowest)
        positions = np.arange(x.size, dtype=np.int64).reshape(x.shape)
        where = windows(node, positions, -1)
        tap = np.argmax(cols, axis=2)
        values = np.take_along_axis(cols, tap[:, :, np.newaxis], axis=2)[:, :, 0]
        index = np.take_along_axis(where, tap[:, :, np.newaxis], axis=2)[:, :, 0]
        axis = node.attrs["axis"] % x.ndim if x.ndim else 0
        if axis:
            index = index % int(np.prod(x.shape[axis:]))
        return [values.astype(x.dtype, copy=False), index.astype(node.attrs["index_element_type"].numpy)]


class AvgPool(Op):
    """Mean over each window; ``exclude-pad`` leaves the padding out of the divisor.

    With include-pad, the divisor counts the explicit padding but not the extra end cells
    that ceil rounding adds.
    """

    type_name = "AvgPool"
    version = "opset14"
    versions = ("opset1", "opset14")
    attributes = {**_WINDOW_ATTRS, "exclude-pad": Attr(AttrKind.BOOL)}
    num_inputs = (1, 1)

    @classmethod
    def infer(cls, node):
        return [(node.inputs[0].element_type, pooled_shape(node))]

    @classmethod
    def evaluate(cls, node, inputs):
        x = inputs[0]
        acc = np.float64 if x.dtype == np.float64 else np.float32
        kernel = list(node.attrs["kernel"])
        rank = len(kernel)
        strides = node.attrs.get("strides") or [1] * rank
        begins, ends, out = window_geometry(node, x.shape[2:], kernel)
        sums = extract_windows(x.astype(acc, copy=False), kernel, strides, [1] * rank, begins, ends, out)
        if node.attrs["exclude-pad"]:
            mask = np.ones((1, 1) + x.shape[2:], acc)
            counts = extract_windows(mask, kernel, strides, [1] * rank, begins, ends, out)
        else:
            padded = tuple(s + b + e for s, b, e in zip(x.shape[2:], begins, ends))
            mask = np.ones((1, 1) + padded, acc)
            counts = extract_windows(mask, kernel, strides, [1] * rank, [0] * rank, [0] * rank, out)
        with np.errstate(invalid="ignore", divide="ignore"):
            return [(sums.sum(axis=2) / counts.sum(axis=2)).astype(x.dtype)]


class AdaptiveAvgPool(Op):
    """Average over adaptive bins: bin i of n over size L spans [floor(i*L/n), ceil((i+1)*L/n))."""

    type_name = "AdaptiveAvgPool"
    version = "opset8"
    num_inputs = (2, 2)

    @classmethod
    def infer(cls, node):
        return [(node.inputs[0].element_type, adaptive_shape(node))]

    @classmethod
    def evaluate(cls, node, inputs):
        x, sizes = inputs
        acc = np.float64 if x.dtype == np.float64 else np.float32
        y = x.astype(acc, copy=False)
        for axis, n in enumerate(sizes.tolist(), start=2):
            length = y.shape[axis]
            parts = [y.take(range(lo, hi), axis=axis).mean(axis=axis, keepdims=True)
                     for lo, hi in adaptive_bins(length, n)]
            y = np.concatenate(parts, axis=axis)
        return [y.astype(x.dtype)]


class AdaptiveMaxPool(Op):
    """Max over adaptive bins (as AdaptiveAvgPool); output 1 holds argmax indices per (n, c) plane."""

    type_name = "AdaptiveMaxPool"
    version = "opset8"
    attributes = {"index_element_type": Attr(AttrKind.ETYPE, ElementType.i64)}
    num_inputs = (2, 2)

    @classmethod
    def infer(cls, node):
        index_type = node.attrs["index_element_type"]
        if not isinstance(index_type, ElementType):
            index_type = node.attrs["index_element_type"] = ElementType(str(index_type))
        shape = adaptive_shape(node)
        return [(node.inputs[0].element_type, shape), (index_type, shape)]

    @classmethod
    def evaluate(cls, node, inputs):
        x, sizes = inputs
        sizes = [int(s) for s in sizes.tolist()]
        spatial = x.shape[2:]
        flat = x.reshape(x.shape[:2] + (-1,))
        plane = np.arange(int(np.prod(spatial)), dtype=np.int64).reshape(spatial)
        values = np.empty(x.shape[:2] + tuple(sizes), x.dtype)
        index = np.empty(x.shape[:2] + tuple(sizes), np.int64)
        bins = [adaptive_bins(length, n) for length, n in zip(spatial, sizes)]
        for out_pos in np.ndindex(*sizes):
            region = plane[tuple(slice(*bins[a][i]) for a, i in enumerate(out_pos))].reshape(-1)
            chosen = np.argmax(flat[:, :, region], axis=2)
            values[(slice(None), slice(None)) + out_pos] = np.take_along_axis(
                flat[:, :, region], chosen[:, :, None], axis=2)[:, :, 0]
            index[(slice(None), slice(None)) + out_pos] = region[chosen]
        return [values, index.astype(node.attrs["index_element_type"].numpy)]


def adaptive_bins(length: int, n: int) -> list[tuple[int, int]]:
    """Return the [start, end) of each of ``n`` adaptive bins over ``length`` cells."""
    return [((i * length) // n, -(-((i + 1) * length) // n)) for i in range(n)]


def adaptive_shape(node):
    """Return the output shape of an adaptive pool: N, C, then the output_shape input."""
    data, sizes = node.inputs
    value = sizes.constant_value()
    if sizes.shape is not None and len(sizes.shape) != 1:
        raise ShapeInferenceError(f"node {node.name!r} ({node.type_name}): output_shape must be 1-D")
    if data.shape is None:
        return None
    rank = len(data.shape) - 2
    if rank < 1:
        raise ShapeInferenceError(f"node {node.name!r} ({node.type_name}): input needs rank >= 3")
    if value is None:
        return (*data.shape[:2],) + (None,) * rank
    if len(value) != rank:
        raise ShapeInferenceError(
            f"node {node.name!r} ({node.type_name}): output_shape {value.tolist()} has {len(value)} values "
            f"for {rank} spatial axes")
    if any(int(v) <= 0 for v in value):
        raise ShapeInferenceError(
            f"node {node.name!r} ({node.type_name}): output_shape {value.tolist()} must be positive")
    return (*data.shape[:2], *(int(v) for v in value))
