"""Transpose simplification: cancel inverse transposes, merge consecutive ones."""

from __future__ import annotations

import numpy as np
from kiln.ir import Model, Node, constant
from kiln.ir.graph import make
from kiln.passes.rewrite import Consumers, node_names, unique_name


def simplify_transposes(model: Model) -> Model:
    """Replace each ``Transpose(Transpose(x, p1), p2)`` by ``Transpose(x, p1[p2])``; return ``model``.

    When the composed order is the identity both disappear and readers get ``x``.
    Orders must be constant; an empty order (reverse the axes) is expanded first.
    The inner Transpose stays while something else reads it.
    """
    users = Consumers(model)
    names = node_names(model)
    for node in model.ordered_nodes():
        if node.type_name != "Transpose" or node.inputs[0].node.type_name != "Transpose":
            continue
        inner = node.inputs[0].node
        outer_order, inner_order = _order(node), _order(inner)
        if outer_order is None or inner_order is None or len(outer_order) != len(inner_order):
            continue
        composed = inner_order[outer_order]
        source = inner.inputs[0]
        if np.array_equal(composed, np.arange(len(composed))):
            users.replace(node.output(0), source)
            continue
        order = constant(composed.astype(node.inputs[1].element_type.numpy),
                         name=unique_name(names, f"{node.name}/order"))
        names.discard(node.name)
        merged = make("Transpose", source, order, name=unique_name(names, node.name))
        users.add(merged)
        users.replace(node.output(0), merged.output(0))
    return model


def _order(node: Node) -> np.ndarray | None:
    value = node.input_value(1)
    if value is None:
        return None
    order = value.reshape(-1).astype(np.int64)
    if order.size == 0:
        shape = node.inputs[0].shape
        if shape is None:
            return None
        return np.arange(len(shape))[::-1]
    rank = order.size
    return order % rank
