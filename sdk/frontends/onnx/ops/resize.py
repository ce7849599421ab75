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
