"""Interpolate (opset11): resize along ``axes`` by nearest, linear (ONNX-style) or cubic sampling.

The resize is separable: each axis is resampled in turn. For output index ``y`` along an
axis of input size ``n`` (after ``pads_begin``/``pads_end`` zero padding), output size ``m``
and scale ``s`` (given, or ``m / n`` in sizes mode), the source coordinate ``x`` is::

    half_pixel          (y + 0.5) / s - 0.5
    pytorch_half_pixel  (y + 0.5) / s - 0.5, or 0 when m == 1
    asymmetric          y / s
    tf_half_pixel_for_nn (y + 0.5) / s
    align_corners       y * (n - 1) / (m' - 1), or 0 when m' == 1 (m' = n * s unfloored)
    half_pixel_symmetric n/2 * (1 - m/m') + (y + 0.5) / s - 0.5 (ONNX Resize-19; not in OpenVINO)

and sampling reads the taps around ``x`` with indices clamped to the edge.
"""

from __future__ import annotations

import math

import numpy as np
from kiln.errors import ShapeInferenceError
from kiln.ir.op import Attr, AttrKind, Op
from kiln.ir.ops._shape_values import known_ints, known_value, normalize_axis

SCALE_EPSILON = 1e-5
"""Added before flooring ``input size * scale`` into an output size (scales mode)."""


def _error(node, message: str) -> ShapeInferenceError:
    return ShapeInferenceError(f"node {node.name!r} ({node.type_name}): {message}")


def source_coordinates(mode: str, out_size: int, in_size: int, scale: float, exact_size: float) -> np.ndarray:
    """Return the source coordinate (float64) of each output index along one axis.

    ``exact_size`` is ``in_size * scale`` before flooring (scales mode) or ``out_size``
    (sizes mode); align_corners maps the corners of that extent, as ONNX Resize does.
    """
    y = np.arange(out_size, dtype=np.float64)
    if mode == "half_pixel":
        return (y + 0.5) / scale - 0.5
    if mode == "pytorch_half_pixel":
        return (y + 0.5) / scale - 0.5 if out_size > 1 else np.zeros(out_size)
    if mode == "asymmetric":
        return y / scale
    if mode == "half_pixel_symmetric":
        offset = in_size / 2 * (1 - out_size / exact_size)
        return offset + (y + 0.5) / scale - 0.5
    if mode == "tf_half_pixel_for_nn":
        return (y + 0.5) / scale
    if mode == "align_corners":
        return y * (in_size - 1) / (exact_size - 1) if exact_size != 1 else np.zeros(out_size)
    raise ValueError(f"unknown coordinate_transformation_mode {mode!r}")


def _cubic_kernel(t: np.ndarray, a: float) -> np.ndarray:
    """Return Keys' cubic convolution kernel with coefficient ``a`` at distances ``t``."""
    t = np.abs(t)
    near = ((a + 2) * t - (a + 3)) * t * t + 1
    far = ((a * t - 5 * a) * t + 8 * a) * t - 4 * a
    return np.where(t <= 1, near, np.where(t < 2, far, 0.0))


def sampling_taps(node, x: np.ndarray, in_size: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Return (indices, weights), each ``[out_size, taps]``, of the input samples per output."""
    attrs = node.attrs
    mode = attrs["mode"]
    left = np.ceil(x).astype(np.int64) - 1  # the sample left of x; x - left is in (0, 1]
    ratio = x - left
    if mode == "nearest":
        on_grid = ratio >= 1.0
        rounding = attrs["nearest_mode"]
        if rounding == "round_prefer_floor":
            pick_right = ratio > 0.5
        elif rounding == "round_prefer_ceil":
            pick_right = ratio >= 0.5
        elif rounding == "floor":
            pick_right = np.zeros_like(on_grid)
        elif rounding == "ceil":
            pick_right = np.ones_like(on_grid)
        elif rounding == "simple":
            pick_right = np.ones_like(on_grid) if scale < 1 else np.zeros_like(on_grid)
        else:
            raise _error(node, f"unknown nearest_mode {rounding!r}")
        index = np.where(on_grid | pick_right, left + 1, left)
        return np.clip(index, 0, in_size - 1)[:, None], np.ones((x.size, 1))
    antialias = attrs["antialias"] and scale < 1
    support = 1 if mode == "linear_onnx" else 2
    if mode not in ("linear_onnx", "cubic"):
        raise _error(node, f"mode {mode!r} is not implemented")
    if antialias:
        start = math.floor(-support / scale) + 1
        offsets = np.arange(start, 2 - start)  # the kernel widened by 1/scale, both sides of x
    else:
        offsets = np.arange(1 - support, support + 1)
    distance = (offsets[None, :] - ratio[:, None]) * (scale if antialias else 1.0)
    if mode == "linear_onnx":
        weights = np.clip(1 - np.abs(distance), 0, 1)
    else:
        weights = _cubic_kernel(distance, attrs["cube_coeff"])
    index = left[:, None] + offsets[None, :]
    if antialias:
        weights = weights / weights.sum(axis=1, keepdims=True)
    return np.clip(index, 0, in_size - 1), weights


class Interpolate(Op):
    """Resize ``image`` along ``axes`` (default: every axis) to output sizes or by scales
    (``shape_calculation_mode``), sampling by ``mode`` (nearest, linear_onnx, cubic)."""

    type_name = "Interpolate"
    version = "opset11"
    attributes = {
        "mode": Attr(AttrKind.STR),
        "shape_calculation_mode": Attr(AttrKind.STR),
        "coordinate_transformation_mode": Attr(AttrKind.STR, "half_pixel"),
        "nearest_mode": Attr(AttrKind.STR, "round_prefer_floor"),
        "antialias": Attr(AttrKind.BOOL, False),
        "pads_begin": Attr(AttrKind.INTS, [0]),
        "pads_end": Attr(AttrKind.INTS, [0]),
        "cube_coeff": Attr(AttrKind.FLOAT, -0.75),
    }
    num_inputs = (2, 3)

    @classmethod
    def padded_shape(cls, node, shape):
        begin = list(node.attrs["pads_begin"]) + [0] * len(shape)
        end = list(node.attrs["pads_end"]) + [0] * len(shape)
        return tuple(None if d is None else d + begin[i] + end[i] for i, d in enumerate(shape))

    @classmethod
    def plan(cls, node, shape, target, axes):
        """Return (output shape, scale per resized axis) for a padded input ``shape``."""
        if len(target) != len(axes):
            raise _error(node, f"{len(target)} sizes/scales for {len(axes)} axes")
        out = list(shape)
        scales = {}
        for value, axis in zip(target, axes):
            n = shape[axis]
            if node.attrs["shape_calculation_mode"] == "sizes":
                m = int(value)
                scales[axis] = None if n is None or n == 0 else m / n
            else:
                scale = float(value)
                if scale <= 0:
                    raise _error(node, f"scale {scale} is not positive")
                m = None if n is None else int(math.floor(n * scale + SCALE_EPSILON))
                scales[axis] = scale
            out[axis] = m
        return tuple(out), scales

    @classmethod
    def axes(cls, node, rank, values):
        if values is None:
            return list(range(rank))
        return [normalize_axis(a, rank, "axis") for a in values]

    @classmethod
    def infer(cls, node):
        image = node.inputs[0]
        if image.shape is None:
            return [(image.element_type, None)]
        shape = cls.padded_shape(node, image.shape)
        target = known_value(node.inputs[1])
        axes = known_ints(node.inputs[2]) if len(node.inputs) > 2 else None
        if target is None or (len(node.inputs) > 2 and axes is None):
            return [(image.element_type, (None,) * len(shape))]
        out, _ = cls.plan(node, shape, target.reshape(-1).tolist(), cls.axes(node, len(shape), axes))
        return [(image.element_type, out)]

    @classmethod
    def evaluate(cls, node, inputs):
        image = inputs[0]
        begin = (list(node.attrs["pads_begin"]) + [0] * image.ndim)[:image.ndim]
        end = (list(node.attrs["pads_end"]) + [0] * image.ndim)[:image.ndim]
        data = np.pad(image, list(zip(begin, end))) if any(begin) or any(end) else image
        axes = cls.axes(node, data.ndim, [int(a) for a in inputs[2].reshape(-1)] if len(inputs) > 2 else None)
        out_shape, scales = cls.plan(node, data.shape, inputs[1].reshape(-1).tolist(), axes)
        result = data.astype(np.float64)
        for axis in axes:
            n, m = data.shape[axis], out_shape[axis]
            if m == n and scales[axis] == 1.0:
                continue
            if n == 0 or m == 0:
                raise _error(node, f"cannot resize an axis of size {n} to {m}")
            exact = m if node.attrs["shape_calculation_mode"] == "sizes" else n * scales[axis]
            x = source_coordinates(node.attrs["coordinate_transformation_mode"], m, n, scales[axis], exact)
            index, weights = sampling_taps(node, x, n, scales[axis])
            taken = np.take(result, index, axis=axis)  # axis becomes (m, taps)
            shape = [1] * taken.ndim
            shape[axis], shape[axis + 1] = weights.shape
            result = (taken * weights.reshape(shape)).sum(axis=axis + 1)
        if image.dtype.kind in "iu":
            info = np.iinfo(image.dtype)
            return [np.clip(np.rint(result), info.min, info.max).astype(image.dtype)]
        return [result.astype(image.dtype)]


def _reflect(x: np.ndarray, low: float, high: float) -> np.ndarray:
    """Reflect coordinates ``x`` at the borders ``low``/``high`` until they lie between them."""
    span = high - low
    if span <= 0:
        return np.full_like(x, low)
    below, above = x < low, x > high
    distance = np.where(below, low - x, np.where(above, x - high, 0.0))
    folds = np.floor(distance / span)
    rest = distance - folds * span
    even = folds % 2 == 0
    from_low = np.where(even, low + rest, high - rest)
    from_high = np.where(even, high - rest, low + rest)
    return np.where(below, from_low, np.where(above, from_high, x))


class GridSample(Op):
    """Sample ``data`` [N, C, D1..Dr] at the normalized coordinates of ``grid`` [N, O1..Or, r]
    (in [-1, 1], last dim ordered Dr..D1 as x, y[, z]); output [N, C, O1..Or].

    ``mode``: nearest (round half to even), bilinear or bicubic (Keys, a = -0.75);
    ``padding_mode``: zeros, border (clamp) or reflection for samples outside the input;
    ``align_corners``: -1 and 1 are the centers (true) or outer edges (false) of the corner pixels.
    """

    type_name = "GridSample"
    version = "opset9"
    attributes = {"align_corners": Attr(AttrKind.BOOL, False), "mode": Attr(AttrKind.STR, "bilinear"),
                  "padding_mode": Attr(AttrKind.STR, "zeros")}
    num_inputs = (2, 2)

    @classmethod
    def infer(cls, node):
        data, grid = node.inputs
        if data.shape is None or grid.shape is None:
            return [(data.element_type, None)]
        if len(grid.shape) != len(data.shape) or grid.shape[-1] not in (None, len(data.shape) - 2):
            raise _error(node, f"grid {list(grid.shape)} does not match data {list(data.shape)}")
        return [(data.element_type, (data.shape[0], data.shape[1], *grid.shape[1:-1]))]

    @classmethod
    def evaluate(cls, node, inputs):
        data, grid = inputs
        attrs = node.attrs
        r = data.ndim - 2
        dims = data.shape[2:]
        align = attrs["align_corners"]
        padding = attrs["padding_mode"]
        mode = attrs["mode"]
        coords = []
        for i, size in enumerate(dims):
            g = grid[..., r - 1 - i].astype(np.float64)
            x = (g + 1) / 2 * (size - 1) if align else ((g + 1) * size - 1) / 2
            coords.append(x)
        borders = [(0.0, size - 1.0) if align else (-0.5, size - 0.5) for size in dims]
        if mode == "nearest":
            coords = [np.rint(x) for x in coords]

        def adjust(x, i):
            low, high = borders[i]
            if padding == "border":
                return np.where((x < low) | (x > high), np.clip(x, 0, dims[i] - 1), x)
            if padding == "reflection":
                return _reflect(x, low, high)
            return x

        coords = [adjust(x, i) for i, x in enumerate(coords)]
        channels_last = np.moveaxis(data, 1, -1).astype(np.float64)
        batch = np.arange(data.shape[0]).reshape((-1,) + (1,) * r)

        def fetch(indices):
            valid = np.ones(indices[0].shape, bool)
            fixed = []
            for i, index in enumerate(indices):
                if padding == "zeros":
                    valid &= (index >= 0) & (index < dims[i])
                elif padding == "reflection":
                    index = np.trunc(_reflect(index.astype(np.float64), *borders[i])).astype(np.int64)
                fixed.append(np.clip(index, 0, dims[i] - 1))
            values = channels_last[(batch, *fixed)]
            return values * valid[..., None]

        if mode == "nearest":
            out = fetch([np.trunc(x).astype(np.int64) for x in coords])
        elif mode in ("bilinear", "bicubic", "linear", "cubic"):
            cubic = mode in ("bicubic", "cubic")
            offsets = (-1, 0, 1, 2) if cubic else (0, 1)
            bases = [np.floor(x).astype(np.int64) for x in coords]
            fracs = [x - b for x, b in zip(coords, bases)]
            weights = []
            for t in fracs:
                if cubic:
                    weights.append([_cubic_kernel(t - o, -0.75) for o in offsets])
                else:
                    weights.append([1 - t, t])
            out = 0.0
            for combo in np.ndindex(*(len(offsets),) * r):
                w = np.ones(coords[0].shape)
                for i, k in enumerate(combo):
                    w = w * weights[i][k]
                out = out + w[..., None] * fetch([b + offsets[k] for b, k in zip(bases, combo)])
        else:
            raise _error(node, f"unknown mode {mode!r}")
        return [np.moveaxis(np.asarray(out), -1, 1).astype(data.dtype)]
