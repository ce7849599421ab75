"""Reshape simplification: merge chains of Reshape/Squeeze/Unsqueeze into one Reshape."""

from __future__ import annotations

import numpy as np
from kiln.ir import Model, Node, constant
from kiln.ir.graph import make
from kiln.ir.types import is_static
from kiln.passes.rewrite import Consumers, node_names, unique_name

RESHAPE_LIKE = frozenset({"Reshape", "Squeeze", "Unsqueeze"})
"""Ops that only relabel the shape of their data (input 0), never its element order."""


def simplify_reshapes(model: Model) -> Model:
    """Replace ``reshape_like(reshape_like(x))`` by one ``Reshape(x, target)``; return ``model``.

    The target is the outer node's output shape when that is static; otherwise an
    outer Reshape's constant target is reused when it holds no ``0`` copied from its
    input (``special_zero``), since the inner node changed the dims a ``0`` would copy.
    The inner node stays while something else reads it.
    """
    users = Consumers(model)
    names = node_names(model)
    for node in model.ordered_nodes():
        if node.type_name not in RESHAPE_LIKE or node.inputs[0].node.type_name not in RESHAPE_LIKE:
            continue
        source = node.inputs[0].node.inputs[0]
        target = _target(node)
        if target is None:
            continue
        if is_static(source.shape) and tuple(source.shape) == node.output_types[0][1]:
            users.replace(node.output(0), source)
            continue
        pattern = constant(np.asarray(target, dtype=np.int64), name=unique_name(names, f"{node.name}/shape"))
        names.discard(node.name)
        merged = make("Reshape", source, pattern, special_zero=False, name=unique_name(names, node.name))
        users.add(merged)
        users.replace(node.output(0), merged.output(0))
    return model


def _target(node: Node) -> list[int] | None:
    shape = node.output_types[0][1]
    if is_static(shape):
        return list(shape)
    if node.type_name != "Reshape":
        return None
    pattern = node.input_value(1)
    if pattern is None:
        return None
    pattern = [int(v) for v in pattern.reshape(-1)]
    if node.attrs.get("special_zero") and 0 in pattern:
        return None
    return pattern
