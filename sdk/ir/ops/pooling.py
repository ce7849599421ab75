"""Pooling over the spatial axes of N, C, *spatial tensors: max, average, adaptive, and per region (ROI).

``rounding_type`` is ``floor``, ``ceil`` or ``ceil_torch`` (ceil, but a last window that
would start in the end padding is dropped, as PyTorch and ONNX do).
"""

from __future__ import annotations

import numpy as np
from kiln.errors import ShapeInferenceError, UnsupportedOpError
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


ALIGNED_MODES = {"asymmetric": (0.0, 0.0), "half_pixel_for_nn": (0.0, -0.5), "half_pixel": (0.5, -0.5)}
"""ROIAlign coordinate rules: (shift before scaling, shift after scaling)."""


class ROIAlign(Op):
    """Pool each region of interest to ``pooled_h`` x ``pooled_w`` bins by bilinear sampling (opset9).

    Inputs: data (N, C, H, W); rois (R, 4) as x1, y1, x2, y2 in input-image units (times
    ``spatial_scale``); batch_indices (R,). Each bin averages (``avg``) or takes the largest
    (``max``, never below 0, as OpenVINO defines it) of ``sampling_ratio`` x ``sampling_ratio``
    bilinear samples (``ceil(bin size)`` per axis when 0). ``aligned_mode``: ``asymmetric``
    maps a coordinate c to ``c * scale`` and makes every region at least 1 x 1;
    ``half_pixel_for_nn`` maps it to ``c * scale - 0.5``; ``half_pixel`` to
    ``(c + 0.5) * scale - 0.5``. A sample beyond a one-cell border counts as 0.
    Output: (R, C, pooled_h, pooled_w).
    """

    type_name = "ROIAlign"
    version = "opset9"
    versions = ("opset3", "opset9")
    attributes = {
        "pooled_h": Attr(AttrKind.INT),
        "pooled_w": Attr(AttrKind.INT),
        "sampling_ratio": Attr(AttrKind.INT),
        "spatial_scale": Attr(AttrKind.FLOAT),
        "mode": Attr(AttrKind.STR),
        "aligned_mode": Attr(AttrKind.STR, "asymmetric"),
    }
    num_inputs = (3, 3)

    @classmethod
    def infer(cls, node):
        data, rois, indices = node.inputs
        if str(node.attrs["mode"]) not in ("avg", "max"):
            raise UnsupportedOpError(
                f"node {node.name!r} (ROIAlign): mode {node.attrs['mode']!r} is not avg or max")
        if str(node.attrs["aligned_mode"]) not in ALIGNED_MODES:
            raise UnsupportedOpError(
                f"node {node.name!r} (ROIAlign): aligned_mode {node.attrs['aligned_mode']!r} is not one of "
                f"{sorted(ALIGNED_MODES)}")
        if data.shape is not None and len(data.shape) != 4:
            raise ShapeInferenceError(f"node {node.name!r} (ROIAlign): data must be (N, C, H, W), got "
                                      f"{node.describe_inputs()}")
        if rois.shape is not None and (len(rois.shape) != 2 or rois.shape[1] not in (None, 4)):
            raise ShapeInferenceError(f"node {node.name!r} (ROIAlign): rois must be (R, 4), got "
                                      f"{node.describe_inputs()}")
        count = rois.shape[0] if rois.shape is not None else None
        channels = data.shape[1] if data.shape is not None else None
        return [(data.element_type, (count, channels, node.attrs["pooled_h"], node.attrs["pooled_w"]))]

    @classmethod
    def evaluate(cls, node, inputs):
        data, rois, indices = inputs
        dt = np.float64 if data.dtype == np.float64 else np.float32
        pooled = (int(node.attrs["pooled_h"]), int(node.attrs["pooled_w"]))
        source_shift, target_shift = ALIGNED_MODES[node.attrs["aligned_mode"]]
        scale, ratio = float(node.attrs["spatial_scale"]), int(node.attrs["sampling_ratio"])
        size = data.shape[2:]
        out = np.zeros((rois.shape[0], data.shape[1], *pooled), dt)
        for r, (roi, batch) in enumerate(zip(rois.astype(np.float64), indices.astype(np.int64))):
            if not 0 <= batch < data.shape[0]:
                raise ShapeInferenceError(
                    f"node {node.name!r} (ROIAlign): batch index {batch} of roi {r} is out of range")
            start = (roi[[1, 0]] + source_shift) * scale + target_shift
            extent = (roi[[3, 2]] + source_shift) * scale + target_shift - start
            if node.attrs["aligned_mode"] == "asymmetric":
                extent = np.maximum(extent, 1.0)
            axes = []
            for a in range(2):
                bin_size = extent[a] / pooled[a]
                grid = ratio if ratio > 0 else int(np.ceil(extent[a] / pooled[a]))
                grid = max(grid, 1)
                at = start[a] + np.arange(pooled[a])[:, None] * bin_size + \
                    (np.arange(grid)[None, :] + 0.5) * bin_size / grid
                axes.append(sample_axis(at, size[a]))
            (y_lo, y_hi, ly, y_ok), (x_lo, x_hi, lx, x_ok) = axes
            plane = data[batch].astype(dt)
            corners = []
            for yi, wy in ((y_lo, 1 - ly), (y_hi, ly)):
                for xi, wx in ((x_lo, 1 - lx), (x_hi, lx)):
                    weight = (wy * y_ok)[:, :, None, None] * (wx * x_ok)[None, None]
                    values = plane[:, yi[:, :, None, None], xi[None, None]]
                    corners.append(weight * values)
            samples = np.sum(corners, axis=0)  # (C, ph, gh, pw, gw)
            if node.attrs["mode"] == "avg":
                out[r] = samples.mean(axis=(2, 4))
            else:
                out[r] = np.maximum(samples.max(axis=(2, 4)), 0)
        return [out.astype(data.dtype)]


def sample_axis(at: np.ndarray, size: int):
    """Return (low index, high index, fraction, valid mask) of bilinear samples along one axis."""
    valid = (at >= -1.0) & (at <= size)
    at = np.maximum(at, 0.0)
    low = np.floor(at).astype(np.int64)
    top = low >= size - 1
    low = np.where(top, size - 1, low)
    high = np.where(top, size - 1, low + 1)
    frac = np.where(top, 0.0, at - low)
    return low, high, frac, valid.astype(np.float64)


class ROIPooling(Op):
    """Max-pool each region of interest to ``output_size`` bins (opset2, ``method="max"``).

    Inputs: data (N, C, H, W); rois (R, 5) as batch index, x1, y1, x2, y2 in image units. Corners
    are scaled by ``spatial_scale`` and rounded half away from zero; a region spans at least one
    cell. Bin (i, j) covers rows ``floor(i * h / ph) .. ceil((i + 1) * h / ph)`` of the region
    (clipped to the map); an empty bin gives 0. Output: (R, C, ph, pw).
    """

    type_name = "ROIPooling"
    version = "opset2"
    attributes = {
        "output_size": Attr(AttrKind.SHAPE),
        "spatial_scale": Attr(AttrKind.FLOAT),
        "method": Attr(AttrKind.STR, "max"),
    }
    num_inputs = (2, 2)

    @classmethod
    def infer(cls, node):
        data, rois = node.inputs
        if str(node.attrs["method"]) != "max":
            raise UnsupportedOpError(
                f"node {node.name!r} (ROIPooling): method {node.attrs['method']!r} is not supported (max)")
        size = [int(v) for v in node.attrs["output_size"]]
        if len(size) != 2 or min(size) < 1:
            raise ShapeInferenceError(
                f"node {node.name!r} (ROIPooling): output_size {size} must be 2 positive ints")
        if rois.shape is not None and (len(rois.shape) != 2 or rois.shape[1] not in (None, 5)):
            raise ShapeInferenceError(
                f"node {node.name!r} (ROIPooling): rois must be (R, 5), got {node.describe_inputs()}")
        count = rois.shape[0] if rois.shape is not None else None
        channels = data.shape[1] if data.shape is not None else None
        return [(data.element_type, (count, channels, *size))]

    @classmethod
    def evaluate(cls, node, inputs):
        data, rois = inputs
        pooled = [int(v) for v in node.attrs["output_size"]]
        scale = float(node.attrs["spatial_scale"])
        height, width = data.shape[2:]
        out = np.zeros((rois.shape[0], data.shape[1], *pooled), data.dtype)
        for r, roi in enumerate(rois.astype(np.float64)):
            batch = int(roi[0])
            if not 0 <= batch < data.shape[0]:
                raise ShapeInferenceError(f"node {node.name!r} (ROIPooling): roi {r} names batch {batch}")
            x1, y1, x2, y2 = (int(np.sign(v) * np.floor(abs(v) + 0.5)) for v in roi[1:] * scale)
            spans = [(y1, max(y2 - y1 + 1, 1), height), (x1, max(x2 - x1 + 1, 1), width)]
            bins = []
            for (start, extent, limit), count in zip(spans, pooled):
                edges = []
                for i in range(count):
                    lo = min(max(int(np.floor(i * extent / count)) + start, 0), limit)
                    hi = min(max(int(np.ceil((i + 1) * extent / count)) + start, 0), limit)
                    edges.append((lo, hi))
                bins.append(edges)
            for i, (top, bottom) in enumerate(bins[0]):
                for j, (left, right) in enumerate(bins[1]):
                    if bottom > top and right > left:
                        out[r, :, i, j] = data[batch, :, top:bottom, left:right].max(axis=(1, 2))
        return [out]
