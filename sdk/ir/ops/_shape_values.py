"""Values known before inference: constants, and small shape subgraphs over static shapes.

Shape inference of ops with shape-like inputs (Reshape's target, Slice's bounds, Tile's
repeats, ...) needs those inputs' values. A value is known when it comes from a Constant,
from ShapeOf of a tensor with a static shape, or from a small op (at most MAX_ELEMENTS
elements out) whose every input value is known. Nothing is folded into the graph: after
``Model.reshape()`` re-inference computes the values afresh.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from kiln.ir.types import Shape, is_static

if TYPE_CHECKING:
    from kiln.ir.graph import Output

MAX_ELEMENTS = 4096
"""Largest tensor (in elements) computed ahead of inference."""

_NEVER = {"Parameter", "Result", "If", "Loop", "RandomUniform", "Multinomial"}


def known_value(port: Output | None, depth: int = 0) -> np.ndarray | None:
    """Return the value of ``port`` when it is known before inference, else None."""
    if port is None:
        return None
    node = port.node
    value = port.constant_value()
    if value is not None:
        return np.asarray(value)
    if node.type_name in _NEVER or depth > 64:
        return None
    if node.type_name == "ShapeOf":
        shape = node.inputs[0].shape
        if is_static(shape):
            return np.asarray(shape, dtype=port.element_type.numpy)
        return None
    if not is_static(port.shape) or int(np.prod(port.shape, dtype=np.int64)) > MAX_ELEMENTS:
        return None
    args = []
    for source in node.inputs:
        arg = known_value(source, depth + 1)
        if arg is None:
            return None
        args.append(arg)
    try:
        with np.errstate(all="ignore"):
            values = node.op.evaluate(node, args)
    except Exception:  # an op that cannot run ahead of time: the value stays unknown
        return None
    return np.asarray(values[port.index])


def known_ints(port: Output | None) -> list[int] | None:
    """Return the known value of ``port`` flattened to a list of Python ints, else None."""
    value = known_value(port)
    return None if value is None else [int(v) for v in np.asarray(value).reshape(-1)]


def dims_from_known(port: Output) -> Shape | None:
    """Return a shape read from a 1-D shape-like input: known dims where known, else rank only.

    Returns None when even the rank (the input's length) is unknown.
    """
    value = known_ints(port)
    if value is not None:
        return tuple(value)
    shape = port.shape
    if shape is not None and len(shape) == 1 and shape[0] is not None:
        return (None,) * shape[0]
    if shape is not None and len(shape) == 0:
        return ()
    return None


def normalize_axis(axis: int, rank: int, what: str) -> int:
    """Return ``axis`` in 0..rank-1 (negative axes count from the end); ValueError if out of range."""
    if not -rank <= axis < rank:
        raise ValueError(f"{what} {axis} is out of range for rank {rank}")
    return axis + rank if axis < 0 else axis



def dim_symbol(port: Output, axis: int) -> tuple:
    """Return a token standing for the (unknown) size of dim ``axis`` of ``port``."""
    return ("dim", id(port.node), port.index, axis)


def shape_elements(port: Output | None, depth: int = 0) -> list | None:
    """Return the elements of a shape-like tensor (at most 1-D) where partly known, else None.

    Each element is an int, or a :func:`dim_symbol` token when it equals an unknown dim of
    some tensor (it came from ShapeOf), so ``x.view(x.size(0), -1)`` still infers.
    """
    if port is None or depth > 32:
        return None
    value = known_value(port)
    if value is not None:
        return [int(v) for v in np.asarray(value).reshape(-1)] if value.ndim <= 1 else None
    node = port.node
    kind = node.type_name
    if kind == "ShapeOf":
        source = node.inputs[0]
        if source.shape is None:
            return None
        return [d if d is not None else dim_symbol(source, i) for i, d in enumerate(source.shape)]
    if kind == "Concat" and node.attrs.get("axis") in (0, -1):
        parts = [shape_elements(p, depth + 1) for p in node.inputs]
        return None if any(p is None for p in parts) else [e for p in parts for e in p]
    if kind == "Gather":
        data = shape_elements(node.inputs[0], depth + 1)
        indices, axis = known_value(node.inputs[1]), known_value(node.inputs[2])
        if data is None or indices is None or axis is None or int(axis.reshape(-1)[0]) not in (0, -1):
            return None
        try:
            return [data[int(i)] for i in indices.reshape(-1)]
        except IndexError:
            return None
    if kind in ("Unsqueeze", "Squeeze", "Reshape", "Convert"):
        inner = shape_elements(node.inputs[0], depth + 1)
        return inner if inner is not None and len(inner) <= 1 else None
    return None
