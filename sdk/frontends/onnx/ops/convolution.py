"""ONNX Conv, ConvTranspose, DeformConv and Col2Im onto the IR's convolution ops."""

from __future__ import annotations

import numpy as np
from kiln.frontends.onnx.registry import onnx_op

AUTO_PAD = {"NOTSET": "explicit", "VALID": "valid", "SAME_UPPER": "same_upper", "SAME_LOWER": "same_lower"}


def spatial_rank(ctx, weights) -> int:
    """Return the number of spatial axes, from ``kernel_shape`` or the weights' rank."""
    kernel = ctx.attr("kernel_shape")
    if kernel is not None:
        return len(kernel)
    if weights is None or weights.shape is None:
        raise ctx.unsupported("cannot tell the number of spatial axes "
                              "(no kernel_shape, weights of unknown rank)")
    return len(weights.shape) - 2


def window_attrs(ctx, rank: int, with_dilations: bool = True) -> dict:
    """Return IR strides / dilations / pads_begin / pads_end / auto_pad from the ONNX attributes."""
    pads = ctx.attr("pads") or [0] * (2 * rank)
    if len(pads) != 2 * rank:
        raise ctx.unsupported(f"pads {pads} should have {2 * rank} values")
    auto_pad = ctx.attr("auto_pad", "NOTSET")
    if auto_pad not in AUTO_PAD:
        raise ctx.unsupported(f"auto_pad {auto_pad!r} is not one of {sorted(AUTO_PAD)}")
    attrs = {
        "strides": list(ctx.attr("strides") or [1] * rank),
        "pads_begin": list(pads[:rank]),
        "pads_end": list(pads[rank:]),
        "auto_pad": AUTO_PAD[auto_pad],
    }
    if with_dilations:
        attrs["dilations"] = list(ctx.attr("dilations") or [1] * rank)
    elif any(d != 1 for d in ctx.attr("dilations") or []):
        raise ctx.unsupported(f"dilations {ctx.attr('dilations')} are not supported for this pooling op")
    for key in ("strides", "dilations"):
        if key in attrs and len(attrs[key]) != rank:
            raise ctx.unsupported(f"{key} {attrs[key]} should have {rank} values")
    return attrs


def channel_vector(ctx, port, rank: int):
    """Return a per-channel vector (C,) as (1, C, 1, ...) for an N, C, *spatial tensor of ``rank``."""
    value = port.constant_value()
    if value is not None:
        return ctx.const(value.reshape((1, -1) + (1,) * (rank - 2)))
    axes = [0] + list(range(2, rank))
    return ctx.make("Unsqueeze", port, ctx.const(axes, np.int64))


def grouped_filters(ctx, weights, groups: int):
    """Split the leading filter dim (C_out for Conv, C_in for ConvTranspose) into ``groups``."""
    value = weights.constant_value()
    if value is not None:
        return ctx.const(value.reshape((groups, value.shape[0] // groups) + value.shape[1:]))
    if weights.shape is None or any(d is None for d in weights.shape[1:]):
        raise ctx.unsupported("grouped weights need a static shape beyond the first dim")
    target = [groups, -1] + list(weights.shape[1:])
    return ctx.make("Reshape", weights, ctx.const(target, np.int64), special_zero=False)


def add_bias(ctx, y, bias, rank: int):
    if bias is None:
        return y
    return ctx.make("Add", y, channel_vector(ctx, bias, rank))


@onnx_op("Conv")
def conv(ctx):
    """Conv (any rank, groups, dilations, auto_pad) plus an optional per-channel bias Add."""
    x, w, bias = ctx.input(0), ctx.input(1), ctx.optional_input(2)
    rank = spatial_rank(ctx, w)
    attrs = window_attrs(ctx, rank)
    groups = int(ctx.attr("group", 1))
    if groups == 1:
        y = ctx.make("Convolution", x, w, **attrs)
    else:
        y = ctx.make("GroupConvolution", x, grouped_filters(ctx, w, groups), **attrs)
    return add_bias(ctx, y, bias, rank + 2)


@onnx_op("ConvTranspose")
def conv_transpose(ctx):
    """ConvTranspose; ``output_shape`` (spatial sizes) fixes the output and sets the pads."""
    x, w, bias = ctx.input(0), ctx.input(1), ctx.optional_input(2)
    rank = spatial_rank(ctx, w)
    attrs = window_attrs(ctx, rank)
    attrs["output_padding"] = list(ctx.attr("output_padding") or [0] * rank)
    groups = int(ctx.attr("group", 1))
    inputs = [x, w if groups == 1 else grouped_filters(ctx, w, groups)]
    output_shape = ctx.attr("output_shape")
    if output_shape is not None:
        inputs.append(ctx.const(list(output_shape)[-rank:], np.int64))
    op = "ConvolutionBackpropData" if groups == 1 else "GroupConvolutionBackpropData"
    y = ctx.make(op, *inputs, **attrs)
    return add_bias(ctx, y, bias, rank + 2)


@onnx_op("Col2Im", since=18)
def col2im(ctx):
    """Rearrange columns (N, C * prod(block), L) into an image (N, C, *image_shape), summing overlaps."""
    size = ctx.input(1)
    rank = size.shape[0] if size.shape is not None and len(size.shape) == 1 else None
    if rank is None:
        raise ctx.unsupported("image_shape must be a 1-D tensor of known length")
    pads = ctx.attr("pads") or [0] * (2 * rank)
    return ctx.make("Col2Im", ctx.input(0), size, ctx.input(2),
                    strides=list(ctx.attr("strides") or [1] * rank),
                    dilations=list(ctx.attr("dilations") or [1] * rank),
                    pads_begin=list(pads[:rank]), pads_end=list(pads[rank:]))


@onnx_op("DeformConv", since=19)
def deform_conv(ctx):
    """2-D deformable convolution (torchvision's sampling rule) plus an optional bias."""
    x, w, offsets = ctx.input(0), ctx.input(1), ctx.input(2)
    bias, mask = ctx.optional_input(3), ctx.optional_input(4)
    rank = spatial_rank(ctx, w)
    if rank != 2:
        raise ctx.unsupported(f"only 2-D deformable convolution is supported, not {rank}-D")
    attrs = window_attrs(ctx, rank)
    inputs = [x, offsets, w] + ([mask] if mask is not None else [])
    y = ctx.make("DeformableConvolution", *inputs, group=int(ctx.attr("group", 1)),
                 deformable_group=int(ctx.attr("offset_group", 1)), bilinear_interpolation_pad=True, **attrs)
    return add_bias(ctx, y, bias, rank + 2)
