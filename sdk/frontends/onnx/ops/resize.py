"""ONNX Resize and Upsample -> Interpolate (opset11)."""

from __future__ import annotations

import numpy as np
from kiln.frontends.onnx.registry import onnx_op
from kiln.ir import ElementType

_MODES = {"nearest": "nearest", "linear": "linear_onnx", "bilinear": "linear_onnx", "cubic": "cubic"}
_COORDINATES = {"half_pixel", "pytorch_half_pixel", "asymmetric", "tf_half_pixel_for_nn", "align_corners",
                "half_pixel_symmetric"}


def _mode(ctx) -> str:
    mode = ctx.attr("mode", "nearest")
    if mode not in _MODES:
        raise ctx.unsupported(f"mode {mode!r}")
    return _MODES[mode]


def _all_axes(ctx, x):
    if x.shape is None:
        raise ctx.unsupported("input of unknown rank")
    return ctx.const(np.arange(len(x.shape), dtype=np.int64))


def _present(ctx, index: int):
    """Return input ``index`` unless it is absent or a constant with no elements."""
    port = ctx.optional_input(index)
    if port is None:
        return None
    value = port.constant_value()
    if value is not None and value.size == 0:
        return None
    if port.shape is not None and 0 in port.shape:
        return None
    return port


@onnx_op("Upsample", since=7)
def upsample(ctx):
    """Legacy resize (Upsample, Resize-10): asymmetric coordinates; nearest takes the floor when
    enlarging and the ceiling when shrinking, as onnxruntime does (Interpolate's "simple")."""
    x = ctx.input(0)
    scales = ctx.const(np.asarray(ctx.attr("scales"), np.float32)) if ctx.opset < 9 else ctx.input(1)
    return ctx.make("Interpolate", x, scales, _all_axes(ctx, x), mode=_mode(ctx),
                    shape_calculation_mode="scales", coordinate_transformation_mode="asymmetric",
                    nearest_mode="simple")


@onnx_op("Resize", since=10)
def resize_v10(ctx):
    return upsample(ctx)


@onnx_op("Resize", since=11)
def resize(ctx):
    x = ctx.input(0)
    coordinates = ctx.attr("coordinate_transformation_mode", "half_pixel")
    if coordinates == "tf_crop_and_resize":
        return crop_and_resize(ctx, x)
    if coordinates not in _COORDINATES:
        raise ctx.unsupported(f"coordinate_transformation_mode {coordinates!r}")
    if ctx.attr("exclude_outside", 0):
        raise ctx.unsupported("exclude_outside=1")
    axes = ctx.attr("axes")
    axes = _all_axes(ctx, x) if axes is None else ctx.const(np.asarray(axes, np.int64))
    sizes, scales = _present(ctx, 3), _present(ctx, 2)
    options = dict(mode=_mode(ctx), coordinate_transformation_mode=coordinates,
                   nearest_mode=ctx.attr("nearest_mode", "round_prefer_floor"),
                   antialias=bool(ctx.attr("antialias", 0)),
                   cube_coeff=float(ctx.attr("cubic_coeff_a", -0.75)))
    policy = ctx.attr("keep_aspect_ratio_policy", "stretch")
    if sizes is not None and policy != "stretch":
        sizes = aspect_kept_sizes(ctx, x, sizes, axes, policy)
    if sizes is not None:
        return ctx.make("Interpolate", x, sizes, axes, shape_calculation_mode="sizes", **options)
    if scales is None:
        raise ctx.unsupported("neither scales nor sizes is given")
    return ctx.make("Interpolate", x, scales, axes, shape_calculation_mode="scales", **options)


def aspect_kept_sizes(ctx, x, sizes, axes, policy: str):
    """Return the sizes that keep the aspect ratio: one scale for every axis, the smallest
    (not_larger) or largest (not_smaller) of ``sizes / input dims``; sizes round half up."""
    if policy not in ("not_larger", "not_smaller"):
        raise ctx.unsupported(f"keep_aspect_ratio_policy {policy!r}")
    f32, i64 = ElementType.f32, ElementType.i64
    dims = ctx.make("Gather", ctx.make("ShapeOf", x, output_type=i64), axes, ctx.const(np.int64(0)))
    dims = ctx.make("Convert", dims, destination_type=f32)
    ratios = ctx.make("Divide", ctx.make("Convert", sizes, destination_type=f32), dims)
    reduce = "ReduceMin" if policy == "not_larger" else "ReduceMax"
    scale = ctx.make(reduce, ratios, ctx.const([0], np.int64), keep_dims=False)
    scaled = ctx.make("Add", ctx.make("Multiply", dims, scale), ctx.const(np.float32(0.5)))
    return ctx.make("Convert", ctx.make("Floor", scaled), destination_type=i64)


@onnx_op("GridSample", since=16)
def grid_sample(ctx):
    mode = {"bilinear": "bilinear", "linear": "bilinear", "bicubic": "bicubic", "cubic": "bicubic",
            "nearest": "nearest"}.get(ctx.attr("mode", "bilinear" if ctx.opset < 20 else "linear"))
    if mode is None:
        raise ctx.unsupported(f"mode {ctx.attr('mode')!r}")
    return ctx.make("GridSample", ctx.input(0), ctx.input(1), mode=mode,
                    padding_mode=ctx.attr("padding_mode", "zeros"),
                    align_corners=bool(ctx.attr("align_corners", 0)))


def crop_and_resize(ctx, x):
    """Resize with coordinate mode tf_crop_and_resize, axis by axis with Gather and weights.

    Along an axis of size n resized to m, output index y samples the input at
    ``x = roi_start*(n-1) + y*(roi_end-roi_start)*(n-1)/(m'-1)`` (the middle of the roi when
    m' = 1; m' is m, or n*scale unfloored); samples outside [0, n-1] take
    ``extrapolation_value``. Interpolate-11 has no such mode, so the resize is decomposed.
    """
    mode = ctx.attr("mode", "nearest")
    nearest = ctx.attr("nearest_mode", "round_prefer_floor")
    if mode not in ("linear", "nearest") or (mode == "nearest" and nearest not in ("round_prefer_floor",
                                                                                   "round_prefer_ceil")):
        raise ctx.unsupported(f"tf_crop_and_resize with mode {mode!r} (nearest_mode {nearest!r})")
    if ctx.attr("exclude_outside", 0) or ctx.attr("antialias", 0):
        raise ctx.unsupported("tf_crop_and_resize with exclude_outside or antialias")
    if x.shape is None:
        raise ctx.unsupported("input of unknown rank")
    rank = len(x.shape)
    axes = ctx.attr("axes")
    axes = list(range(rank)) if axes is None else [a % rank for a in axes]
    roi = ctx.optional_input(1)
    if roi is None:
        raise ctx.unsupported("tf_crop_and_resize needs roi")
    sizes, scales = _present(ctx, 3), _present(ctx, 2)
    if sizes is None and scales is None:
        raise ctx.unsupported("neither scales nor sizes is given")
    f32, i64 = ElementType.f32, ElementType.i64
    zero, one = ctx.const(np.int64(0)), ctx.const(np.int64(1))
    fzero, fone = ctx.const(np.float32(0)), ctx.const(np.float32(1))
    roi = roi if roi.element_type == f32 else ctx.make("Convert", roi, destination_type=f32)
    fill = ctx.const(np.asarray(ctx.attr("extrapolation_value", 0.0), x.element_type.numpy))

    def entry(port, index):
        return ctx.make("Gather", port, ctx.const(np.int64(index)), zero)

    if sizes is not None and sizes.element_type != i64:
        sizes = ctx.make("Convert", sizes, destination_type=i64)
    if scales is not None and scales.element_type != f32:
        scales = ctx.make("Convert", scales, destination_type=f32)
    data = x
    for k, axis in enumerate(axes):
        size = ctx.make("Gather", ctx.make("ShapeOf", data, output_type=i64), ctx.const(np.int64(axis)), zero)
        size_f = ctx.make("Convert", size, destination_type=f32)
        if sizes is not None:
            out = entry(sizes, k)
            extent = ctx.make("Convert", out, destination_type=f32)
        else:
            extent = ctx.make("Multiply", size_f, entry(scales, k))
            out = ctx.make("Convert", ctx.make("Floor", extent), destination_type=i64)
        start, end = entry(roi, k), entry(roi, k + len(axes))
        last = ctx.make("Subtract", size_f, fone)
        y = ctx.make("Convert", ctx.make("Range", zero, out, one, output_type=i64), destination_type=f32)
        step = ctx.make("Divide", ctx.make("Multiply", ctx.make("Subtract", end, start), last),
                        ctx.make("Subtract", extent, fone))
        spread = ctx.make("Add", ctx.make("Multiply", start, last), ctx.make("Multiply", y, step))
        middle = ctx.make("Multiply", ctx.make("Multiply", ctx.make("Add", start, end), last),
                          ctx.const(np.float32(0.5)))
        coords = ctx.make("Select", ctx.make("Equal", extent, fone), middle, spread)
        shape = ctx.const([-1 if i == axis else 1 for i in range(rank)], np.int64)
        outside = ctx.make("LogicalOr", ctx.make("Less", coords, fzero), ctx.make("Greater", coords, last))

        if mode == "nearest":
            floor = ctx.make("Floor", coords)
            frac = ctx.make("Subtract", coords, floor)
            half = ctx.const(np.float32(0.5))
            up = ctx.make("Greater" if nearest == "round_prefer_floor" else "GreaterEqual", frac, half)
            picked = ctx.make("Add", floor, ctx.make("Convert", up, destination_type=f32))
            sampled = ctx.make("Gather", data, _clamped_index(ctx, picked, last), ctx.const(np.int64(axis)))
        else:
            floor = ctx.make("Floor", coords)
            weight = ctx.make("Subtract", coords, floor)
            where = ctx.const(np.int64(axis))
            low = ctx.make("Gather", data, _clamped_index(ctx, floor, last), where)
            high = ctx.make("Gather", data, _clamped_index(ctx, ctx.make("Add", floor, fone), last), where)
            weight = ctx.make("Reshape", weight, shape, special_zero=False)
            if data.element_type != f32:
                low = ctx.make("Convert", low, destination_type=f32)
                high = ctx.make("Convert", high, destination_type=f32)
            sampled = ctx.make("Add", low, ctx.make("Multiply", ctx.make("Subtract", high, low), weight))
            if x.element_type != f32:
                sampled = ctx.make("Convert", sampled, destination_type=x.element_type)
        data = ctx.make("Select", ctx.make("Reshape", outside, shape, special_zero=False), fill, sampled)
    return data


def _clamped_index(ctx, position, last):
    """Return f32 sample positions clamped to [0, last] as i64 indices."""
    position = ctx.make("Minimum", ctx.make("Maximum", position, ctx.const(np.float32(0))), last)
    return ctx.make("Convert", position, destination_type=ElementType.i64)
