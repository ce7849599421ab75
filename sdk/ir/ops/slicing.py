"""Slice (opset8) and StridedSlice (opset1)."""

from __future__ import annotations

import numpy as np
from kiln.errors import ShapeInferenceError
from kiln.ir.op import Attr, AttrKind, Op
from kiln.ir.ops._shape_values import known_ints, normalize_axis


def _error(node, message: str) -> ShapeInferenceError:
    return ShapeInferenceError(f"node {node.name!r} ({node.type_name}): {message}")


def _ints(array) -> list[int]:
    return [int(v) for v in np.asarray(array).reshape(-1)]


class Slice(Op):
    """Take ``data[start:stop:step]`` along ``axes`` (default 0..len(start)-1); bounds clamp
    like Python's, negative ones count from the end; step must not be 0."""

    type_name = "Slice"
    version = "opset8"
    num_inputs = (4, 5)

    @classmethod
    def slices(cls, node, rank, start, stop, step, axes):
        if axes is None:
            axes = list(range(len(start)))
        if not len(start) == len(stop) == len(step) == len(axes):
            raise _error(node, f"start/stop/step/axes lengths differ: {start}, {stop}, {step}, {axes}")
        index = [slice(None)] * rank
        for b, e, s, a in zip(start, stop, step, axes):
            if s == 0:
                raise _error(node, "step is 0")
            a = normalize_axis(a, rank, "axis")
            big = np.iinfo(np.int64).max
            b = max(min(b, big // 2), -big // 2)
            e = max(min(e, big // 2), -big // 2)
            if s < 0 and e < -(1 << 62):
                e = None
            index[a] = slice(b, e, s)
        return tuple(index)

    @classmethod
    def infer(cls, node):
        data = node.inputs[0]
        values = [known_ints(p) for p in node.inputs[1:4]]
        axes = known_ints(node.inputs[4]) if len(node.inputs) > 4 else None
        if data.shape is None:
            return [(data.element_type, None)]
        if any(v is None for v in values) or (len(node.inputs) > 4 and axes is None):
            return [(data.element_type, (None,) * len(data.shape))]
        index = cls.slices(node, len(data.shape), *values, axes)
        out = []
        for d, sl in zip(data.shape, index):
            if sl == slice(None):
                out.append(d)
            elif d is None:
                out.append(None)
            else:
                out.append(len(range(*sl.indices(d))))
        return [(data.element_type, tuple(out))]

    @classmethod
    def evaluate(cls, node, inputs):
        data = inputs[0]
        axes = _ints(inputs[4]) if len(inputs) > 4 else None
        index = cls.slices(node, data.ndim, _ints(inputs[1]), _ints(inputs[2]), _ints(inputs[3]), axes)
        return [data[index]]


class StridedSlice(Op):
    """Slice with TensorFlow's strided-slice rules: ``begin``/``end``/``strides`` plus the
    begin, end, new-axis, shrink-axis and ellipsis masks (one 0/1 per slice entry)."""

    type_name = "StridedSlice"
    attributes = {
        "begin_mask": Attr(AttrKind.INTS), "end_mask": Attr(AttrKind.INTS),
        "new_axis_mask": Attr(AttrKind.INTS, []), "shrink_axis_mask": Attr(AttrKind.INTS, []),
        "ellipsis_mask": Attr(AttrKind.INTS, []),
    }
    num_inputs = (3, 4)

    @classmethod
    def index(cls, node, rank, begin, end, strides):
        def mask(name):
            values = list(node.attrs[name])
            return values + [0] * (len(begin) - len(values))

        begin_mask, end_mask = mask("begin_mask"), mask("end_mask")
        new_axis, shrink, ellipsis = mask("new_axis_mask"), mask("shrink_axis_mask"), mask("ellipsis_mask")
        if strides is None:
            strides = [1] * len(begin)
        consumed = sum(1 for i in range(len(begin)) if not new_axis[i] and not ellipsis[i])
        index = []
        for i in range(len(begin)):
            if ellipsis[i]:
                index.append(Ellipsis)
                continue
            if new_axis[i]:
                index.append(np.newaxis)
                continue
            if shrink[i]:
                index.append(begin[i])
                continue
            if strides[i] == 0:
                raise _error(node, "stride is 0")
            b = None if begin_mask[i] else begin[i]
            e = None if end_mask[i] else end[i]
            index.append(slice(b, e, strides[i]))
        if consumed > rank:
            raise _error(node, f"{consumed} sliced axes for a rank-{rank} input")
        return tuple(index)

    @classmethod
    def infer(cls, node):
        data = node.inputs[0]
        values = [known_ints(p) for p in node.inputs[1:]]
        if data.shape is None or any(v is None for v in values) or None in data.shape:
            return [(data.element_type, None)]
        probe = np.empty(data.shape, dtype=np.uint8)
        strides = values[2] if len(values) > 2 else None
        return [(data.element_type, probe[cls.index(node, len(data.shape), values[0], values[1],
                                                     strides)].shape)]

    @classmethod
    def evaluate(cls, node, inputs):
        data = inputs[0]
        strides = _ints(inputs[3]) if len(inputs) > 3 else None
        return [np.asarray(data[cls.index(node, data.ndim, _ints(inputs[1]), _ints(inputs[2]), strides)])]
