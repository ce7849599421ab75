"""Dead-node elimination: drop nodes that compute nothing (identity-like) or nothing used.

Nodes no Result reaches are not part of a Model at all (see :mod:`kiln.passes.rewrite`),
so removing a node means rewiring its readers to the tensor it passes through.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from kiln.ir import Model, Node
from kiln.passes.rewrite import Consumers


def _same_shape(node: Node) -> bool:
    data = node.inputs[0]
    out_type = node.output_types[0]
    return (data.shape is not None and None not in data.shape and data.shape == out_type[1]
            and data.element_type == out_type[0])


def _constant_equals(node: Node, index: int, scalar: float) -> bool:
    value = node.input_value(index)
    return value is not None and value.size > 0 and bool(np.all(value == scalar))


def _identity_transpose(node: Node) -> bool:
    order = node.input_value(1)
    if order is None or node.inputs[0].shape is None:
        return False
    rank = len(node.inputs[0].shape)
    order = [int(a) % max(rank, 1) for a in order.reshape(-1)]
    return (order == list(range(rank)) and rank > 0) or (rank <= 1 and _same_shape(node))


def _neutral_binary(scalar: float) -> Callable[[Node], bool]:
    def check(node: Node) -> bool:
        return _constant_equals(node, 1, scalar) and _same_shape(node)
    return check


IDENTITY_LIKE: dict[str, Callable[[Node], bool]] = {
    "Convert": lambda n: n.attrs["destination_type"] == n.inputs[0].element_type,
    "ConvertLike": lambda n: n.inputs[0].element_type == n.inputs[1].element_type,
    "Reshape": _same_shape,
    "Squeeze": _same_shape,
    "Unsqueeze": _same_shape,
    "Broadcast": _same_shape,
    "Tile": _same_shape,
    "Transpose": _identity_transpose,
    "Concat": lambda n: len(n.inputs) == 1,
    "Add": _neutral_binary(0),
    "Subtract": _neutral_binary(0),
    "Multiply": _neutral_binary(1),
    "Divide": _neutral_binary(1),
    "Identity": lambda n: True,
}
"""Op type -> test that a node of that type returns its first input unchanged.

``Multiply``/``Add`` by a neutral constant only count when they change neither shape
nor element type (x + 0 with a bigger constant still broadcasts).
"""


def eliminate_dead_nodes(model: Model) -> Model:
    """Remove identity-like nodes (``IDENTITY_LIKE``) from ``model`` in place; return it.

    Examples: a Convert to the type it already has, a Reshape/Squeeze/Unsqueeze to
    the shape it already has, a Transpose by the identity order, Multiply by ones,
    Add of zeros, the Identity left by a Dropout. A node feeding a model output is
    kept when removing it would rename that output.
    """
    users = Consumers(model)
    for node in model.ordered_nodes():
        check = IDENTITY_LIKE.get(node.type_name)
        if check is None or len(node.output_types) != 1 or not node.inputs:
            continue
        if check(node):
            users.replace(node.output(0), node.inputs[0])
    return model
