"""N-d convolutions (plain, grouped, transposed), deformable convolution and Col2Im, in NC[spatial] layout.

The references lower to im2col + matmul (one Python step per kernel tap, never per
output element). Floats accumulate in f32 (f64 for f64), integers in i64; the output
has the data input's element type.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from kiln.errors import ShapeInferenceError, UnsupportedOpError
from kiln.ir.op import Attr, AttrKind, Op
from kiln.ir.types import Dim, Shape

AUTO_PADS = ("explicit", "valid", "same_upper", "same_lower", "notset")


def accumulator(dtype: np.dtype) -> np.dtype:
    """Return the dtype a convolution or matmul accumulates ``dtype`` inputs in."""
    if dtype.kind in "iub":
        return np.dtype(np.int64)
    return np.dtype(np.float64) if dtype == np.float64 else np.dtype(np.float32)


def window_geometry(node, spatial: Sequence[Dim], kernel: Sequence[int]) -> tuple[list, list, list[Dim]]:
    """Return (pads_begin, pads_end, output size) per spatial axis of a sliding-window op.

    Reads ``strides``, ``dilations`` (default 1), ``pads_begin``, ``pads_end``, ``auto_pad`` and,
    if present, ``rounding_type`` (floor, ceil, ceil_torch) from ``node.attrs``. Pads of a
    dynamic axis under same_* are None, as is its output size.
    """
    rank = len(spatial)
    attrs = node.attrs
    strides = list(attrs.get("strides") or [1] * rank)
    dilations = list(attrs.get("dilations") or [1] * rank)
    auto_pad = str(attrs.get("auto_pad", "explicit")).lower()
    if auto_pad not in AUTO_PADS:
        raise UnsupportedOpError(f"node {node.name!r} ({node.type_name}): auto_pad {auto_pad!r} "
                                 f"is not one of {AUTO_PADS[:4]}")
    pads_begin = list(attrs.get("pads_begin") or [0] * rank)
    pads_end = list(attrs.get("pads_end") or [0] * rank)
    for field, value in (("strides", strides), ("dilations", dilations), ("pads_begin", pads_begin),
                         ("pads_end", pads_end), ("kernel", kernel)):
        if len(value) != rank:
            raise ShapeInferenceError(
                f"node {node.name!r} ({node.type_name}): {field} {list(value)} has {len(value)} values "
                f"for {rank} spatial axes")
    if any(s <= 0 for s in strides) or any(d <= 0 for d in dilations):
        raise ShapeInferenceError(
            f"node {node.name!r} ({node.type_name}): strides {strides} and dilations {dilations} must be > 0")
    rounding = str(attrs.get("rounding_type", "floor")).lower()
    begins, ends, outs = [], [], []
    for i in range(rank):
        size, k, s, d = spatial[i], kernel[i], strides[i], dilations[i]
        extent = (k - 1) * d + 1
        if auto_pad == "valid":
            pb = pe = 0
        elif auto_pad in ("same_upper", "same_lower"):
            if size is None:
                begins.append(None)
                ends.append(None)
                outs.append(None)
                continue
            total = max(0, (math.ceil(size / s) - 1) * s + extent - size)
            small, large = total // 2, total - total // 2
            pb, pe = (small, large) if auto_pad == "same_upper" else (large, small)
        else:
            pb, pe = pads_begin[i], pads_end[i]
        begins.append(pb)
        ends.append(pe)
        if size is None:
            outs.append(None)
            continue
        span = size + pb + pe - extent
        if span < 0:
            raise ShapeInferenceError(
                f"node {node.name!r} ({node.type_name}): window of {extent} (kernel {k}, dilation {d}) "
                f"is larger than the padded input {size + pb + pe} on spatial axis {i}")
        if rounding in ("ceil", "ceil_torch"):
            out = -(-span // s) + 1
            if rounding == "ceil_torch" and (out - 1) * s >= size + pb:
                out -= 1
        else:
            out = span // s + 1
        outs.append(out)
    return begins, ends, outs


def extract_windows(x: np.ndarray, kernel: Sequence[int], strides: Sequence[int], dilations: Sequence[int],
                    pads_begin: Sequence[int], pads_end: Sequence[int], out: Sequence[int],
                    fill=0) -> np.ndarray:
    """Return the sliding windows of ``x`` (N, C, *spatial) as (N, C, prod(kernel), *out).

    ``x`` is padded with ``fill`` by pads_begin/pads_end, and at the end as far as a window
    that starts inside reaches (ceil rounding).
    """
    rank = len(kernel)
    widths = [(0, 0), (0, 0)]
    for i in range(rank):
        need = (out[i] - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1
        end = max(pads_end[i], need - x.shape[2 + i] - pads_begin[i])
        widths.append((pads_begin[i], end))
    if any(w != (0, 0) for w in widths):
        x = np.pad(x, widths, constant_values=fill)
    taps = int(np.prod(kernel)) if rank else 1
    cols = np.empty(x.shape[:2] + (taps,) + tuple(out), x.dtype)
    for tap, offset in enumerate(np.ndindex(*kernel)):
        window = tuple(slice(o * d, o * d + (n - 1) * s + 1, s)
                       for o, d, n, s in zip(offset, dilations, out, strides))
        cols[:, :, tap] = x[(slice(None), slice(None)) + window]
    return cols


class ConvolutionBase(Op):
    """Shared attributes and checks of the forward convolutions."""

    attributes = {
        "strides": Attr(AttrKind.INTS),
        "dilations": Attr(AttrKind.INTS),
        "pads_begin": Attr(AttrKind.INTS),
        "pads_end": Attr(AttrKind.INTS),
        "auto_pad": Attr(AttrKind.STR, "explicit"),
    }
    num_inputs = (2, 2)
    grouped = False

    @classmethod
    def split_filters(cls, node, filters_shape: Shape) -> tuple[int | None, Dim, Dim, list[int]]:
        """Return (groups, output channels, input channels per group, kernel) of the filters."""
        lead = 3 if cls.grouped else 2
        if filters_shape is None or len(filters_shape) < lead:
            raise ShapeInferenceError(
                f"node {node.name!r} ({cls.type_name}): filters need rank >= {lead}, got "
                f"{node.describe_inputs()}")
        kernel = list(filters_shape[lead:])
        if any(k is None for k in kernel):
            raise ShapeInferenceError(f"node {node.name!r} ({cls.type_name}): kernel size must be static")
        if cls.grouped:
            groups, per_out, per_in = filters_shape[:3]
            out = None if groups is None or per_out is None else groups * per_out
            return groups, out, per_in, kernel
        return 1, filters_shape[0], filters_shape[1], kernel

    @classmethod
    def infer(cls, node):
        data, filters = node.inputs
        if data.element_type != filters.element_type:
            raise ShapeInferenceError(
                f"node {node.name!r} ({cls.type_name}): data and filters element types differ: "
                f"{node.describe_inputs()}")
        groups, out_channels, per_in, kernel = cls.split_filters(node, filters.shape)
        if data.shape is None:
            return [(data.element_type, None)]
        if len(data.shape) != len(kernel) + 2:
            raise ShapeInferenceError(
                f"node {node.name!r} ({cls.type_name}): data rank {len(data.shape)} does not match "
                f"a {len(kernel)}-d kernel: {node.describe_inputs()}")
        channels = data.shape[1]
        if channels is not None and per_in is not None and groups is not None and channels != groups * per_in:
            raise ShapeInferenceError(
                f"node {node.name!r} ({cls.type_name}): data has {channels} channels, filters expect "
                f"{groups} x {per_in}: {node.describe_inputs()}")
        _, _, spatial = window_geometry(node, data.shape[2:], kernel)
        return [(data.element_type, (data.shape[0], out_channels, *spatial))]

    @classmethod
    def evaluate(cls, node, inputs):
        x, w = inputs
        if not cls.grouped:
            w = w[np.newaxis]
        groups, per_out = w.shape[0], w.shape[1]
        kernel = list(w.shape[3:])
        pads_begin, pads_end, out = window_geometry(node, x.shape[2:], kernel)
        rank = len(kernel)
        strides = node.attrs.get("strides") or [1] * rank
        dilations = node.attrs.get("dilations") or [1] * rank
        acc = accumulator(x.dtype)
        cols = extract_windows(x.astype(acc, copy=False), kernel, strides, dilations,
                               pads_begin, pads_end, out)
        n = x.shape[0]
        cols = cols.reshape(n, groups, -1, int(np.prod(out)) if out else 1)
        weights = w.astype(acc, copy=False).reshape(groups, per_out, -1)
        y = np.matmul(weights[np.newaxis], cols)
        return [y.reshape((n, groups * per_out, *out)).astype(x.dtype, copy=False)]


class Convolution(ConvolutionBase):
    """Cross-correlate data (N, C_in, *spatial) with filters (C_out, C_in, *kernel)."""

    type_name = "Convolution"


class GroupConvolution(ConvolutionBase):
    """Grouped convolution with filters (G, C_out/G, C_in/G, *kernel); G = C_in is depthwise."""

    type_name = "GroupConvolution"
    grouped = True


class BackpropDataBase(Op):
    """Transposed convolution: the gradient of a convolution with respect to its data input.

    Output size per spatial axis: ``(in - 1) * stride + (k - 1) * dilation + 1 - pads_begin -
    pads_end + output_padding``; an optional third input ``output_shape`` (spatial sizes) fixes
    it instead and the pads are derived from it: the total ``t`` splits as (t // 2, t - t // 2)
    under same_upper and as (t - t // 2, t // 2) otherwise (floor division; ``t`` may be
    negative, which adds output cells). same_upper/same_lower without output_shape aim at
    ``in * stride``.
    """

    attributes = {
        "strides": Attr(AttrKind.INTS),
        "dilations": Attr(AttrKind.INTS),
        "pads_begin": Attr(AttrKind.INTS),
        "pads_end": Attr(AttrKind.INTS),
        "auto_pad": Attr(AttrKind.STR, "explicit"),
        "output_padding": Attr(AttrKind.INTS, []),
    }
    num_inputs = (2, 3)
    grouped = False

    @classmethod
    def split_filters(cls, node, filters_shape):
        """Return (groups, input channels, output channels, kernel) of the filters."""
        lead = 3 if cls.grouped else 2
        if filters_shape is None or len(filters_shape) < lead:
            raise ShapeInferenceError(
                f"node {node.name!r} ({cls.type_name}): filters need rank >= {lead}, got "
                f"{node.describe_inputs()}")
        kernel = list(filters_shape[lead:])
        if any(k is None for k in kernel):
            raise ShapeInferenceError(f"node {node.name!r} ({cls.type_name}): kernel size must be static")
        if cls.grouped:
            groups, per_in, per_out = filters_shape[:3]
            if groups is None:
                return None, None, None, kernel
            return (groups, None if per_in is None else groups * per_in,
                    None if per_out is None else groups * per_out, kernel)
        return 1, filters_shape[0], filters_shape[1], kernel

    @classmethod
    def geometry(cls, node, spatial, kernel, output_shape):
        """Return (pads_begin, pads_end, output_padding, output sizes) per spatial axis."""
        rank = len(kernel)
        attrs = node.attrs
        strides = list(attrs.get("strides") or [1] * rank)
        dilations = list(attrs.get("dilations") or [1] * rank)
        output_padding = list(attrs.get("output_padding") or [0] * rank)
        auto_pad = str(attrs.get("auto_pad", "explicit")).lower()
        if auto_pad not in AUTO_PADS:
            raise UnsupportedOpError(f"node {node.name!r} ({cls.type_name}): auto_pad {auto_pad!r} "
                                     f"is not one of {AUTO_PADS[:4]}")
        pads_begin = list(attrs.get("pads_begin") or [0] * rank)
        pads_end = list(attrs.get("pads_end") or [0] * rank)
        for field, value in (("strides", strides), ("dilations", dilations),
                             ("output_padding", output_padding), ("pads_begin", pads_begin),
                             ("pads_end", pads_end)):
            if len(value) != rank:
                raise ShapeInferenceError(
                    f"node {node.name!r} ({cls.type_name}): {field} {value} has {len(value)} values for "
                    f"{rank} spatial axes")
        if output_shape is not None and len(output_shape) != rank:
            raise ShapeInferenceError(
                f"node {node.name!r} ({cls.type_name}): output_shape {list(output_shape)} has "
                f"{len(output_shape)} values for {rank} spatial axes")
        begins, ends, outs = [], [], []
        for i in range(rank):
            size = spatial[i]
            full = None if size is None else (size - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1
            target = None
            if output_shape is not None:
                target = int(output_shape[i])
            elif auto_pad in ("same_upper", "same_lower") and size is not None:
                target = size * strides[i]
            if target is not None or auto_pad == "valid":
                if full is None:
                    begins.append(None)
                    ends.append(None)
                    outs.append(target)
                    continue
                total = 0 if target is None else full + output_padding[i] - target
                pb, pe = (total // 2, total - total // 2) if auto_pad == "same_upper" \
                    else (total - total // 2, total // 2)
            else:
                pb, pe = pads_begin[i], pads_end[i]
            begins.append(pb)
            ends.append(pe)
            outs.append(None if full is None else full - pb - pe + output_padding[i])
            if outs[-1] is not None and outs[-1] <= 0:
                raise ShapeInferenceError(
                    f"node {node.name!r} ({cls.type_name}): output size {outs[-1]} on spatial axis {i} "
                    f"is not positive")
        return begins, ends, output_padding, outs

    @classmethod
    def infer(cls, node):
        data, filters = node.inputs[:2]
        if data.element_type != filters.element_type:
            raise ShapeInferenceError(
                f"node {node.name!r} ({cls.type_name}): data and filters element types differ: "
                f"{node.describe_inputs()}")
        groups, in_channels, out_channels, kernel = cls.split_filters(node, filters.shape)
        output_shape = None
        if len(node.inputs) == 3:
            output_shape = node.input_value(2)
            if output_shape is None:
                if data.shape is None:
                    return [(data.element_type, None)]
                return [(data.element_type, (data.shape[0], out_channels) + (None,) * len(kernel))]
        if data.shape is None:
            return [(data.element_type, None)]
        if len(data.shape) != len(kernel) + 2:
            raise ShapeInferenceError(
                f"node {node.name!r} ({cls.type_name}): data rank {len(data.shape)} does not match "
                f"a {len(kernel)}-d kernel: {node.describe_inputs()}")
        channels = data.shape[1]
        if channels is not None and in_channels is not None and channels != in_channels:
            raise ShapeInferenceError(
                f"node {node.name!r} ({cls.type_name}): data has {channels} channels, filters expect "
                f"{in_channels}: {node.describe_inputs()}")
        _, _, _, spatial = cls.geometry(node, data.shape[2:], kernel, output_shape)
        return [(data.element_type, (data.shape[0], out_channels, *spatial))]

    @classmethod
    def evaluate(cls, node, inputs):
        x, w = inputs[:2]
        output_shape = inputs[2] if len(inputs) == 3 else None
        if not cls.grouped:
            w = w[np.newaxis]
        groups, per_in, per_out = w.shape[:3]
        kernel = list(w.shape[3:])
        rank = len(kernel)
        pads_begin, pads_end, output_padding, out = cls.geometry(node, x.shape[2:], kernel, output_shape)
        strides = node.attrs.get("strides") or [1] * rank
        dilations = node.attrs.get("dilations") or [1] * rank
        acc = accumulator(x.dtype)
        n, spatial = x.shape[0], x.shape[2:]
        taps = int(np.prod(kernel)) if rank else 1
        data = x.astype(acc, copy=False).reshape(n, groups, per_in, -1)
        weights = w.astype(acc, copy=False).reshape(groups, per_in, per_out * taps)
        cols = np.matmul(np.swapaxes(weights, 1, 2)[np.newaxis], data)  # (N, G, per_out * taps, L)
        cols = cols.reshape((n, groups * per_out, taps) + tuple(spatial))
        full = [(spatial[i] - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 for i in range(rank)]
        # room for output_padding and for negative pads on either side
        lead = [max(0, -p) for p in pads_begin]
        size = [lead[i] + max(full[i], pads_begin[i] + out[i]) for i in range(rank)]
        canvas = np.zeros((n, groups * per_out, *size), acc)
        for tap, offset in enumerate(np.ndindex(*kernel)):
            window = tuple(slice(lead[i] + o * d, lead[i] + o * d + (spatial[i] - 1) * s + 1, s)
                           for i, (o, d, s) in enumerate(zip(offset, dilations, strides)))
            canvas[(slice(None), slice(None)) + window] += cols[:, :, tap]
        crop = tuple(slice(lead[i] + pads_begin[i], lead[i] + pads_begin[i] + out[i]) for i in range(rank))
        return [canvas[(slice(None), slice(None)) + crop].astype(x.dtype)]


class ConvolutionBackpropData(BackpropDataBase):
    """Transposed convolution with filters (C_in, C_out, *kernel)."""

    type_name = "ConvolutionBackpropData"


class GroupConvolutionBackpropData(BackpropDataBase):
    """Grouped transposed convolution with filters (G, C_in/G, C_out/G, *kernel)."""

    type_name = "GroupConvolutionBackpropData"
    grouped = True


class Col2Im(Op):
    """Sum sliding-window columns back into an image (the inverse layout of im2col, opset15).

    Inputs: data (N, C * prod(kernel), L) or unbatched (C * prod(kernel), L); output_size and
    kernel_size (1-D, one value per spatial axis). ``L`` must equal the number of windows that
    the strides, dilations and pads give over ``output_size``. Output: (N, C, *output_size).
    """

    type_name = "Col2Im"
    version = "opset15"
    attributes = {
        "strides": Attr(AttrKind.INTS, []),
        "dilations": Attr(AttrKind.INTS, []),
        "pads_begin": Attr(AttrKind.INTS, []),
        "pads_end": Attr(AttrKind.INTS, []),
    }
    num_inputs = (3, 3)

    @classmethod
    def infer(cls, node):
        data, size, kernel = node.inputs
        rank = size.shape[0] if size.shape is not None and len(size.shape) == 1 else None
        size_value, kernel_value = node.input_value(1), node.input_value(2)
        if data.shape is not None and len(data.shape) not in (2, 3):
            raise ShapeInferenceError(
                f"node {node.name!r} (Col2Im): data must be (N, C*prod(kernel), L) or (C*prod(kernel), L), "
                f"got {node.describe_inputs()}")
        if rank is None:
            return [(data.element_type, None)]
        spatial = tuple(int(v) for v in size_value) if size_value is not None else (None,) * rank
        channels = None
        if data.shape is not None and kernel_value is not None and data.shape[-2] is not None:
            taps = int(np.prod(kernel_value))
            if data.shape[-2] % taps:
                raise ShapeInferenceError(
                    f"node {node.name!r} (Col2Im): {data.shape[-2]} rows do not split into kernel "
                    f"{kernel_value.tolist()} ({taps} taps)")
            channels = data.shape[-2] // taps
        lead = (data.shape[0],) if data.shape is not None and len(data.shape) == 3 else ()
        return [(data.element_type, (*lead, channels, *spatial))]

    @classmethod
    def evaluate(cls, node, inputs):
        data, size, kernel = inputs
        batched = data.ndim == 3
        cols = data if batched else data[np.newaxis]
        size = [int(v) for v in size]
        kernel = [int(v) for v in kernel]
        rank = len(size)
        strides = list(node.attrs["strides"] or [1] * rank)
        dilations = list(node.attrs["dilations"] or [1] * rank)
        begins = list(node.attrs["pads_begin"] or [0] * rank)
        ends = list(node.attrs["pads_end"] or [0] * rank)
        out = [(size[i] + begins[i] + ends[i] - (kernel[i] - 1) * dilations[i] - 1) // strides[i] + 1
               for i in range(rank)]
        taps = int(np.prod(kernel))
        n, rows, length = cols.shape
        if rows % taps or length != int(np.prod(out)):
            raise ShapeInferenceError(
                f"node {node.name!r} (Col2Im): data {list(data.shape)} does not hold {taps}-tap columns for "
                f"{int(np.prod(out))} windows over output_size {size}")
        acc = accumulator(data.dtype)
        cols = cols.astype(acc).reshape(n, rows // taps, taps, *out)
        canvas = np.zeros((n, rows // taps, *(s + b + e for s, b, e in zip(size, begins, ends))), acc)
        for tap, offset in enumerate(np.ndindex(*kernel)):
            window = tuple(slice(o * d, o * d + (c - 1) * s + 1, s)
                           for o, d, c, s in zip(offset, dilations, out, strides))
            canvas[(slice(None), slice(None)) + window] += cols[:, :, tap]
        crop = tuple(slice(b, b + s) for b, s in zip(begins, size))
        image = canvas[(slice(None), slice(None)) + crop].astype(data.dtype)
        return [image if batched else image[0]]


def bilinear_sample(planes: np.ndarray, y: np.ndarray, x: np.ndarray, pad: bool) -> np.ndarray:
    """Sample ``planes`` (N, G, C, H, W) at fractional (y, x) of shape (N, G, *out) by bilinear
    interpolation; return (N, G, C, *out).

    With ``pad`` (torchvision's rule) a point beyond a one-cell border is 0 and each corner
    outside the image counts as 0. Without it a point outside [0, H) x [0, W) is 0 and
    corners are clamped to the image.
    """
    n, g, c, h, w = planes.shape
    if pad:
        valid = (y > -1) & (y < h) & (x > -1) & (x < w)
    else:
        valid = (y >= 0) & (y < h) & (x >= 0) & (x < w)
    y0, x0 = np.floor(y), np.floor(x)
    dy, dx = y - y0, x - x0
    y0, x0 = y0.astype(np.int64), x0.astype(np.int64)
    flat = planes.reshape(n, g, c, h * w)
    out = np.zeros((n, g, c) + y.shape[2:], planes.dtype)
    for yy, xx, weight in ((y0, x0, (1 - dy) * (1 - dx)), (y0, x0 + 1, (1 - dy) * dx),
                           (y0 + 1, x0, dy * (1 - dx)), (y0 + 1, x0 + 1, dy * dx)):
        if pad:
            inside = valid & (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
        else:
            yy, xx = np.clip(yy, 0, h - 1), np.clip(xx, 0, w - 1)
            inside = valid
        index = np.where(inside, np.clip(yy, 0, h - 1) * w + np.clip(xx, 0, w - 1), 0)
        gathered = np.take_along_axis(flat, index.reshape(n, g, 1, -1), axis=3).reshape(out.shape)
        out += np.where(inside[:, :, None], weight[:, :, None] * gathered, 0)
    return out


class DeformableConvolution(Op):
    """2-D convolution whose taps sample the input at learned offsets (opset8), optionally masked.

    Inputs: data (N, C_in, H, W); offsets (N, deformable_group * 2 * kh * kw, H_out, W_out) as
    (dy, dx) pairs per tap; filters (C_out, C_in / group, kh, kw); optional mask
    (N, deformable_group * kh * kw, H_out, W_out) scaling each sample. Tap (i, j) of output
    cell (p, q) reads data at (p * stride - pad + i * dilation + dy, ...) by bilinear
    interpolation (see :func:`bilinear_sample` for ``bilinear_interpolation_pad``).
    """

    type_name = "DeformableConvolution"
    version = "opset8"
    attributes = {
        **ConvolutionBase.attributes,
        "group": Attr(AttrKind.INT, 1),
        "deformable_group": Attr(AttrKind.INT, 1),
        "bilinear_interpolation_pad": Attr(AttrKind.BOOL, False),
    }
    num_inputs = (3, 4)

    @classmethod
    def infer(cls, node):
        data, offsets, filters = node.inputs[:3]
        if filters.shape is None or len(filters.shape) != 4 or any(k is None for k in filters.shape[2:]):
            raise ShapeInferenceError(
                f"node {node.name!r} (DeformableConvolution): filters must be (C_out, C_in/group, kh, kw) "
                f"with a static kernel, got {node.describe_inputs()}")
        kernel = [int(k) for k in filters.shape[2:]]
        if data.shape is None:
            return [(data.element_type, None)]
        if len(data.shape) != 4:
            raise ShapeInferenceError(
                f"node {node.name!r} (DeformableConvolution): data must be (N, C, H, W), got "
                f"{node.describe_inputs()}")
        groups, deformable = node.attrs["group"], node.attrs["deformable_group"]
        channels = data.shape[1]
        if channels is not None and filters.shape[1] is not None and channels != groups * filters.shape[1]:
            raise ShapeInferenceError(
                f"node {node.name!r} (DeformableConvolution): data has {channels} channels, filters expect "
                f"{groups} x {filters.shape[1]}")
        taps = kernel[0] * kernel[1]
        if offsets.shape is not None and offsets.shape[1] not in (None, deformable * 2 * taps):
            raise ShapeInferenceError(
                f"node {node.name!r} (DeformableConvolution): offsets need {deformable * 2 * taps} channels, "
                f"got {node.describe_inputs()}")
        _, _, spatial = window_geometry(node, data.shape[2:], kernel)
        return [(data.element_type, (data.shape[0], filters.shape[0], *spatial))]

    @classmethod
    def evaluate(cls, node, inputs):
        x, offsets, w = inputs[:3]
        mask = inputs[3] if len(inputs) == 4 else None
        kernel = list(w.shape[2:])
        begins, _, out = window_geometry(node, x.shape[2:], kernel)
        strides = node.attrs["strides"] or [1, 1]
        dilations = node.attrs["dilations"] or [1, 1]
        groups, deformable = node.attrs["group"], node.attrs["deformable_group"]
        n, c = x.shape[:2]
        acc = accumulator(x.dtype)
        planes = x.astype(acc).reshape(n, deformable, c // deformable, *x.shape[2:])
        taps = kernel[0] * kernel[1]
        shifts = offsets.astype(acc).reshape(n, deformable, taps, 2, *out)
        scale = None if mask is None else mask.astype(acc).reshape(n, deformable, taps, *out)
        row_base = (np.arange(out[0]) * strides[0] - begins[0])[:, None]
        col_base = (np.arange(out[1]) * strides[1] - begins[1])[None, :]
        cols = np.empty((n, c, taps, *out), acc)
        for tap, (i, j) in enumerate(np.ndindex(*kernel)):
            y = row_base + i * dilations[0] + shifts[:, :, tap, 0]
            xs = col_base + j * dilations[1] + shifts[:, :, tap, 1]
            sampled = bilinear_sample(planes, y, xs, node.attrs["bilinear_interpolation_pad"])
            if scale is not None:
                sampled = sampled * scale[:, :, tap, None]
            cols[:, :, tap] = sampled.reshape(n, c, *out)
        per_out = w.shape[0] // groups
        cols = cols.reshape(n, groups, -1, out[0] * out[1])
        weights = w.astype(acc).reshape(groups, per_out, -1)
        y = np.matmul(weights[np.newaxis], cols)
        return [y.reshape(n, w.shape[0], *out).astype(x.dtype)]
