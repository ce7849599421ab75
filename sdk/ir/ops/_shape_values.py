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

