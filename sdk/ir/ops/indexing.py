"""Gather and scatter ops, and Select: index tensors may hold negative indices (from the end)."""

from __future__ import annotations

import numpy as np
from kiln.errors import ShapeInferenceError
from kiln.ir.op import Attr, AttrKind, Op
from kiln.ir.ops._shape_values import known_ints, normalize_axis
from kiln.ir.types import broadcast_shapes


def _error(node, message: str) -> ShapeInferenceError:
    return ShapeInferenceError(f"node {node.name!r} ({node.type_name}): {message}")


def _checked_indices(node, indices: np.ndarray, size: int, what: str = "index") -> np.ndarray:
    """Return int64 ``indices`` with negative ones wrapped; raise naming the node if out of range."""
    indices = np.asarray(indices).astype(np.int64)
    if indices.size and (indices.min() < -size or indices.max() >= size):
        bad = indices[(indices < -size) | (indices >= size)].reshape(-1)[0]
        raise _error(node, f"{what} {int(bad)} is out of range for a dim of size {size}")
    return np.where(indices < 0, indices + size, indices)


class Gather(Op):
    """Take slices of ``data`` at ``indices`` along ``axis`` (an input), with ``batch_dims``
    leading dims shared by data and indices."""

    type_name = "Gather"
    version = "opset8"
    versions = ("opset1", "opset7", "opset8")
    attributes = {"batch_dims": Attr(AttrKind.INT, 0)}
    num_inputs = (3, 3)

    @classmethod
    def infer(cls, node):
        data, indices, axis_port = node.inputs
        axis = known_ints(axis_port)
        if data.shape is None or indices.shape is None or axis is None:
            return [(data.element_type, None)]
        axis = normalize_axis(axis[0], len(data.shape), "axis")
        b = node.attrs["batch_dims"]
        if b < 0:
            b += len(indices.shape)
        if b > axis:
            raise _error(node, f"batch_dims {b} exceeds axis {axis}")
        shape = data.shape[:axis] + indices.shape[b:] + data.shape[axis + 1:]
        return [(data.element_type, tuple(shape))]

    @classmethod
    def evaluate(cls, node, inputs):
        data, indices, axis = inputs
        axis = normalize_axis(int(axis.reshape(-1)[0]), data.ndim, "axis")
        b = node.attrs["batch_dims"]
        if b < 0:
            b += indices.ndim
        indices = _checked_indices(node, indices, data.shape[axis])
        if b == 0:
            return [np.take(data, indices, axis=axis)]
        batch = data.shape[:b]
        flat_data = data.reshape((-1,) + data.shape[b:])
        flat_idx = indices.reshape((-1,) + indices.shape[b:])
        parts = [np.take(d, i, axis=axis - b) for d, i in zip(flat_data, flat_idx)]
        out = np.stack(parts) if parts else np.empty((0,), data.dtype)
        return [out.reshape(batch + out.shape[1:])]


class GatherElements(Op):
    """Take ``data`` elements at ``indices`` along ``axis``; output has the shape of ``indices``."""

    type_name = "GatherElements"
    version = "opset6"
    attributes = {"axis": Attr(AttrKind.INT)}
    num_inputs = (2, 2)

    @classmethod
    def infer(cls, node):
        data, indices = node.inputs
        return [(data.element_type, indices.shape)]

    @classmethod
    def evaluate(cls, node, inputs):
        data, indices = inputs
        axis = normalize_axis(node.attrs["axis"], data.ndim, "axis")
        indices = _checked_indices(node, indices, data.shape[axis])
        return [np.take_along_axis(data, indices, axis=axis)]


class GatherND(Op):
    """Take slices of ``data`` at the index tuples in the last dim of ``indices``, after
    ``batch_dims`` shared leading dims (output keeps those batch dims unflattened, opset8)."""

    type_name = "GatherND"
    version = "opset8"
    versions = ("opset5", "opset8")
    attributes = {"batch_dims": Attr(AttrKind.INT, 0)}
    num_inputs = (2, 2)

    @classmethod
    def infer(cls, node):
        data, indices = node.inputs
        b = node.attrs["batch_dims"]
        if data.shape is None or indices.shape is None or indices.shape[-1] is None:
            return [(data.element_type, None)]
        k = indices.shape[-1]
        if b + k > len(data.shape):
            raise _error(node, f"index tuples of length {k} after {b} batch dims exceed data rank "
                               f"{len(data.shape)}")
        return [(data.element_type, tuple(indices.shape[:-1]) + tuple(data.shape[b + k:]))]

    @classmethod
    def evaluate(cls, node, inputs):
        data, indices = inputs
        b = node.attrs["batch_dims"]
        k = indices.shape[-1]
        batch_shape = indices.shape[:b]
        flat_data = data.reshape((-1,) + data.shape[b:])
        flat_idx = indices.reshape((-1,) + indices.shape[b:]).astype(np.int64)
        out = []
        for d, idx in zip(flat_data, flat_idx):
            tuples = idx.reshape(-1, k)
            for j in range(k):
                tuples[:, j] = _checked_indices(node, tuples[:, j], d.shape[j])
            taken = d[tuple(tuples.T)] if k else np.broadcast_to(d, (tuples.shape[0],) + d.shape)
            out.append(taken.reshape(idx.shape[:-1] + d.shape[k:]))
        result = np.stack(out) if out else np.empty((0,) + indices.shape[b:-1] + data.shape[b + k:],
                                                    data.dtype)
        return [result.reshape(batch_shape + result.shape[1:])]


class ScatterUpdate(Op):
    """Write ``updates`` into a copy of ``data`` at ``indices`` along ``axis`` (an input)."""

    type_name = "ScatterUpdate"
    version = "opset3"
    num_inputs = (4, 4)

    @classmethod
    def infer(cls, node):
        data = node.inputs[0]
        return [(data.element_type, data.shape)]

    @classmethod
    def evaluate(cls, node, inputs):
        data, indices, updates, axis = inputs
        axis = normalize_axis(int(axis.reshape(-1)[0]), data.ndim, "axis")
        indices = _checked_indices(node, indices, data.shape[axis])
        out = np.moveaxis(data.copy(), axis, 0)
        if updates.ndim != indices.ndim + data.ndim - 1:
            raise _error(node, f"updates of rank {updates.ndim} do not match data rank {data.ndim} and "
                               f"indices rank {indices.ndim}")
        upd = np.moveaxis(updates, list(range(axis, axis + indices.ndim)), list(range(indices.ndim)))
        out[indices.reshape(-1)] = upd.reshape((-1,) + out.shape[1:])
        return [np.moveaxis(out, 0, axis)]


_REDUCE = {
    "sum": np.add, "prod": np.multiply, "min": np.minimum, "max": np.maximum,
}


class ScatterElementsUpdate(Op):
    """Write (or reduce: sum, prod, min, max, mean) ``updates`` into a copy of ``data`` at
    ``indices`` along ``axis`` (an input); ``use_init_val`` false drops ``data`` where written."""

    type_name = "ScatterElementsUpdate"
    version = "opset12"
    versions = ("opset3", "opset12")
    attributes = {"reduction": Attr(AttrKind.STR, "none"), "use_init_val": Attr(AttrKind.BOOL, True)}
    num_inputs = (4, 4)

    @classmethod
    def infer(cls, node):
        data = node.inputs[0]
        return [(data.element_type, data.shape)]

    @classmethod
    def evaluate(cls, node, inputs):
        data, indices, updates, axis = inputs
        axis = normalize_axis(int(axis.reshape(-1)[0]), data.ndim, "axis")
        indices = _checked_indices(node, indices, data.shape[axis])
        if indices.shape != updates.shape:
            raise _error(node, f"indices {list(indices.shape)} and updates {list(updates.shape)} differ")
        grid = list(np.indices(indices.shape, sparse=False))
        grid[axis] = indices
        target = tuple(g.reshape(-1) for g in grid)
        values = updates.reshape(-1)
        reduction = node.attrs["reduction"]
        out = data.copy()
        if reduction == "none":
            out[target] = values
            return [out]
        if reduction not in _REDUCE and reduction != "mean":
            raise _error(node, f"unknown reduction {reduction!r}")
        ufunc = np.add if reduction == "mean" else _REDUCE[reduction]
        if not node.attrs["use_init_val"]:
            identity = {"sum": 0, "mean": 0, "prod": 1}
            if reduction in identity:
                out[target] = identity[reduction]
            else:
                first = np.zeros(out.shape, bool)
                for pos, value in zip(zip(*target), values):
                    if not first[pos]:
                        out[pos] = value
                        first[pos] = True
        ufunc.at(out, target, values)
        if reduction == "mean":
            counts = np.zeros(out.shape, np.int64)
            np.add.at(counts, target, 1)
            counts += 1 if node.attrs["use_init_val"] else 0
            written = counts > 0
            mean = out.astype(np.float64)[written] / counts[written]
            out[written] = np.floor(mean) if out.dtype.kind in "iu" else mean
        return [out]


class ScatterNDUpdate(Op):
    """Write (or reduce: sum, sub, prod, min, max) ``updates`` into a copy of ``data`` at the
    index tuples in the last dim of ``indices``."""

    type_name = "ScatterNDUpdate"
    version = "opset15"
    versions = ("opset3", "opset15")
    attributes = {"reduction": Attr(AttrKind.STR, "none")}
    num_inputs = (3, 3)

    @classmethod
    def infer(cls, node):
        data = node.inputs[0]
        return [(data.element_type, data.shape)]

    @classmethod
    def evaluate(cls, node, inputs):
        data, indices, updates = inputs
        k = indices.shape[-1]
        tuples = indices.reshape(-1, k).astype(np.int64)
        for j in range(k):
            tuples[:, j] = _checked_indices(node, tuples[:, j], data.shape[j])
        values = updates.reshape((tuples.shape[0],) + data.shape[k:])
        out = data.copy()
        reduction = node.attrs["reduction"]
        target = tuple(tuples.T)
        if reduction == "none":
            out[target] = values  # repeated index tuples: the last update wins
        elif reduction == "sub":
            np.subtract.at(out, target, values)
        elif reduction in _REDUCE:
            _REDUCE[reduction].at(out, target, values)
        else:
            raise _error(node, f"unknown reduction {reduction!r}")
        return [out]


class Select(Op):
    """Choose ``then`` where ``cond`` is true, else ``else`` (numpy broadcasting)."""

    type_name = "Select"
    attributes = {"auto_broadcast": Attr(AttrKind.STR, "numpy")}
    num_inputs = (3, 3)

    @classmethod
    def infer(cls, node):
        cond, then, other = node.inputs
        if then.element_type != other.element_type:
            raise _error(node, f"then/else element types differ: {then.element_type.value} and "
                               f"{other.element_type.value}")
        try:
            shape = broadcast_shapes(cond.shape, broadcast_shapes(then.shape, other.shape))
        except ValueError as error:
            raise _error(node, str(error)) from None
        return [(then.element_type, shape)]

    @classmethod
    def evaluate(cls, node, inputs):
        cond, then, other = inputs
        return [np.where(cond.astype(bool), then, other).astype(then.dtype, copy=False)]
