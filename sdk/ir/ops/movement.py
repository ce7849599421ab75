"""Shape and data-movement ops: Reshape, Squeeze, Unsqueeze, Transpose, Concat, Split, ShapeOf, ...

Each op's ``infer`` handles dynamic (None) dimensions; inputs that give a shape (a
Reshape target, Tile repeats, ...) are read with :func:`known_value` when they are
known ahead of inference, else the outputs get dynamic dimensions.
"""

from __future__ import annotations

import numpy as np
from kiln.errors import ShapeInferenceError
from kiln.ir.op import Attr, AttrKind, Op
from kiln.ir.ops._shape_values import dim_symbol, dims_from_known, known_ints, normalize_axis, shape_elements
from kiln.ir.types import ElementType, broadcast_shapes, is_static


def _error(node, message: str) -> ShapeInferenceError:
    return ShapeInferenceError(f"node {node.name!r} ({node.type_name}): {message}")


class Reshape(Op):
    """Reshape ``data`` to ``shape`` (i32/i64, 1-D); -1 infers a dim; 0 copies one if special_zero."""

    type_name = "Reshape"
    attributes = {"special_zero": Attr(AttrKind.BOOL)}
    num_inputs = (2, 2)

    @classmethod
    def target(cls, node, in_shape, pattern):
        special_zero = node.attrs["special_zero"]
        out = []
        for i, d in enumerate(pattern):
            if d == 0 and special_zero:
                if in_shape is None or i >= len(in_shape):
                    if in_shape is not None:
                        raise _error(node, f"special_zero copies dim {i} of a rank-{len(in_shape)} input")
                    out.append(None)
                else:
                    out.append(in_shape[i])
            elif d < -1:
                raise _error(node, f"target shape {pattern} has a negative dim other than -1")
            else:
                out.append(d)
        if out.count(-1) > 1:
            raise _error(node, f"target shape {pattern} has more than one -1")
        if -1 in out:
            known = [d for d in out if d not in (-1, None)]
            if in_shape is not None and all(d is not None for d in in_shape) and None not in out:
                total = int(np.prod(in_shape, dtype=np.int64))
                rest = int(np.prod(known, dtype=np.int64))
                if rest == 0 or total % rest:
                    raise _error(node, f"cannot reshape {list(in_shape)} to {pattern}")
                out[out.index(-1)] = total // rest
            else:
                out[out.index(-1)] = None
        elif in_shape is not None and is_static(in_shape) and None not in out:
            if int(np.prod(in_shape, dtype=np.int64)) != int(np.prod(out, dtype=np.int64)):
                raise _error(node, f"cannot reshape {list(in_shape)} to {pattern}")
        return tuple(out)

    @classmethod
    def infer(cls, node):
        data, shape = node.inputs
        pattern = known_ints(shape)
        if pattern is not None:
            return [(data.element_type, cls.target(node, data.shape, pattern))]
        elements = shape_elements(shape)
        if elements is None:
            return [(data.element_type, dims_from_known(shape))]
        return [(data.element_type, cls.symbolic_target(node, data, elements))]

    @classmethod
    def symbolic_target(cls, node, data, elements):
        """Return the output shape for a target whose unknown elements are dim symbols."""
        in_shape = data.shape
        out = []
        for i, e in enumerate(elements):
            if e == 0 and node.attrs["special_zero"] and in_shape is not None and i < len(in_shape):
                e = in_shape[i] if in_shape[i] is not None else dim_symbol(data, i)
            out.append(e)
        if -1 in out and in_shape is not None:
            numerator = [d if d is not None else dim_symbol(data, j) for j, d in enumerate(in_shape)]
            denominator = [e for e in out if e != -1]
            for e in list(denominator):
                if isinstance(e, tuple) and e in numerator:
                    numerator.remove(e)
                    denominator.remove(e)
            if all(isinstance(e, int) for e in numerator + denominator):
                rest = int(np.prod(denominator, dtype=np.int64))
                total = int(np.prod(numerator, dtype=np.int64))
                if rest and total % rest == 0:
                    out[out.index(-1)] = total // rest
        return tuple(e if isinstance(e, int) and e >= 0 else None for e in out)

    @classmethod
    def evaluate(cls, node, inputs):
        data, shape = inputs
        target = cls.target(node, data.shape, [int(v) for v in shape.reshape(-1)])
        return [data.reshape(target)]


class Squeeze(Op):
    """Remove the listed size-1 axes of ``data`` (all size-1 axes when ``axes`` is absent)."""

    type_name = "Squeeze"
    num_inputs = (1, 2)

    @classmethod
    def axes(cls, node, shape, axes):
        if axes is None:
            if any(d is None for d in shape):
                return None
            return [i for i, d in enumerate(shape) if d == 1]
        out = sorted({normalize_axis(a, len(shape), "squeeze axis") for a in axes})
        for a in out:
            if shape[a] not in (1, None):
                raise _error(node, f"cannot squeeze axis {a} of size {shape[a]}")
        return out

    @classmethod
    def infer(cls, node):
        data = node.inputs[0]
        if data.shape is None:
            return [(data.element_type, None)]
        axes = known_ints(node.inputs[1]) if len(node.inputs) > 1 else None
        if len(node.inputs) > 1 and axes is None:
            return [(data.element_type, None)]
        chosen = cls.axes(node, data.shape, axes)
        if chosen is None:
            return [(data.element_type, None)]
        return [(data.element_type, tuple(d for i, d in enumerate(data.shape) if i not in chosen))]

    @classmethod
    def evaluate(cls, node, inputs):
        data = inputs[0]
        axes = [int(a) for a in inputs[1].reshape(-1)] if len(inputs) > 1 else None
        chosen = cls.axes(node, data.shape, axes)
        return [data.reshape([d for i, d in enumerate(data.shape) if i not in chosen])]


class Unsqueeze(Op):
    """Insert size-1 axes at ``axes`` (positions in the output; negative count from its end)."""

    type_name = "Unsqueeze"
    num_inputs = (2, 2)

    @classmethod
    def target(cls, node, shape, axes):
        rank = len(shape) + len(axes)
        positions = sorted(normalize_axis(a, rank, "unsqueeze axis") for a in axes)
        if len(set(positions)) != len(positions):
            raise _error(node, f"repeated axes {axes}")
        out = list(shape)
        for a in positions:
            out.insert(a, 1)
        return tuple(out)

    @classmethod
    def infer(cls, node):
        data, axes = node.inputs
        values = known_ints(axes)
        if data.shape is None or values is None:
            return [(data.element_type, None)]
        return [(data.element_type, cls.target(node, data.shape, values))]

    @classmethod
    def evaluate(cls, node, inputs):
        data, axes = inputs
        return [data.reshape(cls.target(node, data.shape, [int(a) for a in axes.reshape(-1)]))]


class Transpose(Op):
    """Permute the axes of ``data`` by ``order`` (empty order: reverse the axes)."""

    type_name = "Transpose"
    num_inputs = (2, 2)

    @classmethod
    def order(cls, node, rank, order):
        if not order:
            return list(range(rank))[::-1]
        order = [normalize_axis(a, rank, "transpose axis") for a in order]
        if sorted(order) != list(range(rank)):
            raise _error(node, f"order {order} is not a permutation of {rank} axes")
        return order

    @classmethod
    def infer(cls, node):
        data, order = node.inputs
        values = known_ints(order)
        if data.shape is None or values is None:
            rank = None if data.shape is None else len(data.shape)
            return [(data.element_type, None if rank is None else (None,) * rank)]
        perm = cls.order(node, len(data.shape), values)
        return [(data.element_type, tuple(data.shape[a] for a in perm))]

    @classmethod
    def evaluate(cls, node, inputs):
        data, order = inputs
        return [np.transpose(data, cls.order(node, data.ndim, [int(a) for a in order.reshape(-1)]))]


class Concat(Op):
    """Join the inputs along ``axis`` (negative counts from the end); other dims must match."""

    type_name = "Concat"
    attributes = {"axis": Attr(AttrKind.INT)}
    num_inputs = (1, 1 << 30)

    @classmethod
    def infer(cls, node):
        etype = node.inputs[0].element_type
        shapes = [p.shape for p in node.inputs]
        for p in node.inputs:
            if p.element_type != etype:
                raise _error(node, f"inputs have element types {etype.value} and {p.element_type.value}")
        ranked = [s for s in shapes if s is not None]
        if not ranked:
            return [(etype, None)]
        rank = len(ranked[0])
        axis = normalize_axis(node.attrs["axis"], rank, "axis")
        out = []
        for i in range(rank):
            dims = [s[i] for s in ranked]
            if i == axis:
                out.append(None if None in dims or len(ranked) != len(shapes) else sum(dims))
            else:
                known = {d for d in dims if d is not None}
                if len(known) > 1:
                    raise _error(node, f"inputs differ in dim {i}: {node.describe_inputs()}")
                out.append(known.pop() if known else None)
        return [(etype, tuple(out))]

    @classmethod
    def evaluate(cls, node, inputs):
        return [np.concatenate(inputs, axis=node.attrs["axis"])]


class Split(Op):
    """Split ``data`` along ``axis`` (an input) into ``num_splits`` equal parts."""

    type_name = "Split"
    attributes = {"num_splits": Attr(AttrKind.INT)}
    num_inputs = (2, 2)

    @classmethod
    def infer(cls, node):
        data, axis_port = node.inputs
        n = node.attrs["num_splits"]
        axis = known_ints(axis_port)
        if data.shape is None or axis is None:
            return [(data.element_type, None)] * n
        axis = normalize_axis(axis[0], len(data.shape), "axis")
        dim = data.shape[axis]
        if dim is not None and dim % n:
            raise _error(node, f"dim {axis} of size {dim} does not split into {n} equal parts")
        part = None if dim is None else dim // n
        shape = tuple(part if i == axis else d for i, d in enumerate(data.shape))
        return [(data.element_type, shape)] * n

    @classmethod
    def evaluate(cls, node, inputs):
        data, axis = inputs
        return list(np.split(data, node.attrs["num_splits"], axis=int(axis.reshape(-1)[0])))


class VariadicSplit(Op):
    """Split ``data`` along ``axis`` into parts of ``split_lengths`` (one -1 takes the rest)."""

    type_name = "VariadicSplit"
    num_inputs = (3, 3)

    @classmethod
    def lengths(cls, node, dim, lengths):
        if lengths.count(-1) > 1:
            raise _error(node, f"split_lengths {lengths} has more than one -1")
        if -1 in lengths:
            if dim is None:
                return [None if v == -1 else v for v in lengths]
            rest = dim - sum(v for v in lengths if v != -1)
            if rest < 0:
                raise _error(node, f"split_lengths {lengths} exceed dim of size {dim}")
            return [rest if v == -1 else v for v in lengths]
        if dim is not None and sum(lengths) != dim:
            raise _error(node, f"split_lengths {lengths} do not sum to the dim size {dim}")
        return lengths

    @classmethod
    def infer(cls, node):
        data, axis_port, lengths_port = node.inputs
        lengths = known_ints(lengths_port)
        axis = known_ints(axis_port)
        if lengths is None:
            count = lengths_port.shape[0] if lengths_port.shape else None
            if count is None:
                raise _error(node, "the number of outputs (length of split_lengths) is unknown")
            return [(data.element_type, None)] * count
        if data.shape is None or axis is None:
            return [(data.element_type, None)] * len(lengths)
        axis = normalize_axis(axis[0], len(data.shape), "axis")
        sizes = cls.lengths(node, data.shape[axis], lengths)
        return [(data.element_type, tuple(s if i == axis else d for i, d in enumerate(data.shape)))
                for s in sizes]

    @classmethod
    def evaluate(cls, node, inputs):
        data, axis, lengths = inputs
        axis = normalize_axis(int(axis.reshape(-1)[0]), data.ndim, "axis")
        sizes = cls.lengths(node, data.shape[axis], [int(v) for v in lengths.reshape(-1)])
        return list(np.split(data, np.cumsum(sizes)[:-1], axis=axis))


class ShapeOf(Op):
    """Return the shape of ``data`` as a 1-D tensor of ``output_type`` (i32 or i64)."""

    type_name = "ShapeOf"
    version = "opset3"
    versions = ("opset1", "opset3")
    attributes = {"output_type": Attr(AttrKind.ETYPE, ElementType.i64)}
    num_inputs = (1, 1)

    @classmethod
    def infer(cls, node):
        shape = node.inputs[0].shape
        return [(node.attrs["output_type"], None if shape is None else (len(shape),))]

    @classmethod
    def evaluate(cls, node, inputs):
        return [np.asarray(inputs[0].shape, dtype=node.attrs["output_type"].numpy)]


class Broadcast(Op):
    """Broadcast ``data`` to ``target_shape`` (mode numpy, bidirectional, or explicit with
    ``axes_mapping`` naming the output axis of each data axis)."""

    type_name = "Broadcast"
    version = "opset3"
    versions = ("opset1", "opset3")
    attributes = {"mode": Attr(AttrKind.STR, "numpy")}
    num_inputs = (2, 3)

    @classmethod
    def shape(cls, node, data_shape, target, mapping):
        mode = node.attrs["mode"]
        if mode == "bidirectional":
            return broadcast_shapes(data_shape, target)
        if mode == "numpy":
            if data_shape is not None and len(data_shape) > len(target):
                raise _error(node, f"data rank {len(data_shape)} exceeds target rank {len(target)}")
            out = broadcast_shapes(data_shape, target)
            if out is not None and tuple(out) != tuple(target) and None not in target:
                raise _error(node, f"data {list(data_shape)} does not broadcast to {list(target)}")
            return tuple(target) if None not in target else out
        if mode == "explicit":
            if mapping is None or data_shape is None:
                return tuple(target)
            if len(mapping) != len(data_shape):
                raise _error(node, f"axes_mapping {mapping} does not match data rank {len(data_shape)}")
            for d, a in zip(data_shape, mapping):
                if d not in (1, None) and target[a] not in (d, None):
                    raise _error(node, f"data dim {d} does not broadcast to target dim {target[a]}")
            return tuple(target)
        raise _error(node, f"unknown mode {mode!r}")

    @classmethod
    def infer(cls, node):
        data = node.inputs[0]
        target = dims_from_known(node.inputs[1])
        if target is None:
            return [(data.element_type, None)]
        mapping = known_ints(node.inputs[2]) if len(node.inputs) > 2 else None
        try:
            shape = cls.shape(node, data.shape, target, mapping)
        except ValueError as error:
            raise _error(node, str(error)) from None
        return [(data.element_type, shape)]

    @classmethod
    def evaluate(cls, node, inputs):
        data, target = inputs[0], [int(v) for v in inputs[1].reshape(-1)]
        mode = node.attrs["mode"]
        if mode == "explicit":
            mapping = [int(v) for v in inputs[2].reshape(-1)]
            shape = [1] * len(target)
            for d, a in zip(data.shape, mapping):
                shape[a] = d
            return [np.broadcast_to(data.reshape(shape), target).copy()]
        if mode == "bidirectional":
            target = np.broadcast_shapes(data.shape, tuple(target))
        return [np.broadcast_to(data, target).copy()]


class Tile(Op):
    """Repeat ``data`` ``repeats[i]`` times along each axis (ranks aligned at the right)."""

    type_name = "Tile"
    num_inputs = (2, 2)

    @classmethod
    def infer(cls, node):
        data, repeats = node.inputs
        reps = known_ints(repeats)
        if data.shape is None or reps is None:
            rank = None
            if data.shape is not None and repeats.shape is not None and repeats.shape[0] is not None:
                rank = max(len(data.shape), repeats.shape[0])
            return [(data.element_type, None if rank is None else (None,) * rank)]
        rank = max(len(data.shape), len(reps))
        shape = (1,) * (rank - len(data.shape)) + tuple(data.shape)
        reps = [1] * (rank - len(reps)) + reps
        return [(data.element_type, tuple(None if d is None else d * r for d, r in zip(shape, reps)))]

    @classmethod
    def evaluate(cls, node, inputs):
        return [np.tile(inputs[0], [int(r) for r in inputs[1].reshape(-1)])]


class Pad(Op):
    """Pad ``data`` by ``pads_begin``/``pads_end`` (negative values crop) in ``pad_mode``:
    constant (``pad_value``, default 0), edge, reflect or symmetric."""

    type_name = "Pad"
    version = "opset12"
    versions = ("opset1", "opset12")
    attributes = {"pad_mode": Attr(AttrKind.STR, "constant")}
    num_inputs = (3, 4)

    @classmethod
    def infer(cls, node):
        data = node.inputs[0]
        begin, end = known_ints(node.inputs[1]), known_ints(node.inputs[2])
        if data.shape is None:
            return [(data.element_type, None)]
        if begin is None or end is None:
            return [(data.element_type, (None,) * len(data.shape))]
        if len(begin) != len(data.shape) or len(end) != len(data.shape):
            raise _error(node, f"pads {begin}/{end} do not match data rank {len(data.shape)}")
        return [(data.element_type,
                 tuple(None if d is None else d + b + e for d, b, e in zip(data.shape, begin, end)))]

    @classmethod
    def evaluate(cls, node, inputs):
        data = inputs[0]
        begin = [int(v) for v in inputs[1].reshape(-1)]
        end = [int(v) for v in inputs[2].reshape(-1)]
        crop = tuple(slice(max(-b, 0), d - max(-e, 0)) for d, b, e in zip(data.shape, begin, end))
        data = data[crop]
        widths = [(max(b, 0), max(e, 0)) for b, e in zip(begin, end)]
        mode = node.attrs["pad_mode"]
        if mode == "constant":
            value = inputs[3].reshape(()) if len(inputs) > 3 else 0
            return [np.pad(data, widths, mode="constant", constant_values=value)]
        numpy_mode = {"edge": "edge", "reflect": "reflect", "symmetric": "symmetric"}.get(mode)
        if numpy_mode is None:
            raise _error(node, f"unknown pad_mode {mode!r}")
        return [np.pad(data, widths, mode=numpy_mode)]


class DepthToSpace(Op):
    """Move ``block_size``² channel blocks of NC... data into spatial blocks (blocks_first or
    depth_first channel order)."""

    type_name = "DepthToSpace"
    attributes = {"mode": Attr(AttrKind.STR), "block_size": Attr(AttrKind.INT, 1)}
    num_inputs = (1, 1)

    @classmethod
    def infer(cls, node):
        data = node.inputs[0]
        b = node.attrs["block_size"]
        if data.shape is None:
            return [(data.element_type, None)]
        n, c, *spatial = data.shape
        k = b ** len(spatial)
        if c is not None and c % k:
            raise _error(node, f"channels {c} are not divisible by block_size^{len(spatial)} = {k}")
        return [(data.element_type, (n, None if c is None else c // k,
                                     *[None if d is None else d * b for d in spatial]))]

    @classmethod
    def evaluate(cls, node, inputs):
        x = inputs[0]
        b = node.attrs["block_size"]
        n, c, *spatial = x.shape
        r = len(spatial)
        k = b ** r
        if node.attrs["mode"] == "blocks_first":
            y = x.reshape(n, *([b] * r), c // k, *spatial)
            perm = [0, r + 1] + [p for i in range(r) for p in (r + 2 + i, 1 + i)]
        else:
            y = x.reshape(n, c // k, *([b] * r), *spatial)
            perm = [0, 1] + [p for i in range(r) for p in (r + 2 + i, 2 + i)]
        return [y.transpose(perm).reshape(n, c // k, *[d * b for d in spatial])]


class SpaceToDepth(Op):
    """Move spatial ``block_size`` blocks of NC... data into channels (blocks_first or depth_first)."""

    type_name = "SpaceToDepth"
    attributes = {"mode": Attr(AttrKind.STR), "block_size": Attr(AttrKind.INT, 1)}
    num_inputs = (1, 1)

    @classmethod
    def infer(cls, node):
        data = node.inputs[0]
        b = node.attrs["block_size"]
        if data.shape is None:
            return [(data.element_type, None)]
        n, c, *spatial = data.shape
        for d in spatial:
            if d is not None and d % b:
                raise _error(node, f"spatial dim {d} is not divisible by block_size {b}")
        return [(data.element_type, (n, None if c is None else c * b ** len(spatial),
                                     *[None if d is None else d // b for d in spatial]))]

    @classmethod
    def evaluate(cls, node, inputs):
        x = inputs[0]
        b = node.attrs["block_size"]
        n, c, *spatial = x.shape
        r = len(spatial)
        split = [v for d in spatial for v in (d // b, b)]
        y = x.reshape(n, c, *split)
        outer = [2 + 2 * i for i in range(r)]
        inner = [3 + 2 * i for i in range(r)]
        if node.attrs["mode"] == "blocks_first":
            perm = [0] + inner + [1] + outer
        else:
            perm = [0, 1] + inner + outer
        return [y.transpose(perm).reshape(n, c * b ** r, *[d // b for d in spatial])]


class ReverseSequence(Op):
    """Reverse the first ``seq_lengths[i]`` items along ``seq_axis`` of each batch ``i``."""

    type_name = "ReverseSequence"
    attributes = {"batch_axis": Attr(AttrKind.INT, 0), "seq_axis": Attr(AttrKind.INT, 1)}
    num_inputs = (2, 2)

    @classmethod
    def infer(cls, node):
        data = node.inputs[0]
        return [(data.element_type, data.shape)]

    @classmethod
    def evaluate(cls, node, inputs):
        data, lengths = inputs
        batch = normalize_axis(node.attrs["batch_axis"], data.ndim, "batch_axis")
        seq = normalize_axis(node.attrs["seq_axis"], data.ndim, "seq_axis")
        out = data.copy()
        for i, length in enumerate(lengths.reshape(-1)):
            length = int(length)
            if not 0 <= length <= data.shape[seq]:
                raise _error(node, f"seq_lengths[{i}] = {length} is outside 0..{data.shape[seq]}")
            src = [slice(None)] * data.ndim
            src[batch] = i
            src[seq] = slice(0, length)
            out[tuple(src)] = np.flip(data[tuple(src)], axis=seq - (1 if batch < seq else 0))
        return [out]


class Reverse(Op):
    """Reverse ``data`` along the axes given as indices (mode index) or a boolean mask (mode mask)."""

    type_name = "Reverse"
    attributes = {"mode": Attr(AttrKind.STR)}
    num_inputs = (2, 2)

    @classmethod
    def infer(cls, node):
        data = node.inputs[0]
        return [(data.element_type, data.shape)]

    @classmethod
    def evaluate(cls, node, inputs):
        data, axes = inputs
        if node.attrs["mode"] == "mask":
            chosen = [i for i, flag in enumerate(axes.reshape(-1)) if flag]
        else:
            chosen = [normalize_axis(int(a), data.ndim, "axis") for a in axes.reshape(-1)]
        return [np.flip(data, axis=tuple(chosen)).copy() if chosen else data]


class Roll(Op):
    """Shift ``data`` cyclically by ``shift`` elements along ``axes``."""

    type_name = "Roll"
    version = "opset7"
    num_inputs = (3, 3)

    @classmethod
    def infer(cls, node):
        data = node.inputs[0]
        return [(data.element_type, data.shape)]

    @classmethod
    def evaluate(cls, node, inputs):
        data, shift, axes = inputs
        shift = [int(s) for s in shift.reshape(-1)]
        axes = [normalize_axis(int(a), data.ndim, "axis") for a in axes.reshape(-1)]
        if len(shift) == 1 and len(axes) > 1:
            shift = shift * len(axes)
        return [np.roll(data, shift, axis=axes)]
