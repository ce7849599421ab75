"""The graph validator: run between passes (in tests) to catch a broken graph early."""

from __future__ import annotations

from kiln.errors import KilnError
from kiln.ir.graph import Model


class GraphValidationError(KilnError):
    """A model whose graph breaks an IR invariant."""


def validate(model: Model) -> None:
    """Check the IR invariants of ``model``; raise GraphValidationError naming the node.

    Checked: the graph is acyclic; node names are unique; every Parameter reached
    is listed as a model input; every output port has a type; stored output types
    equal what shape inference computes now.
    """
    order = model.ordered_nodes()
    seen: dict[str, object] = {}
    params = {id(p) for p in model.parameters}
    for node in order:
        if node.name in seen and seen[node.name] is not node:
            raise GraphValidationError(f"model {model.name!r}: two nodes are named {node.name!r}")
        seen[node.name] = node
        if node.type_name == "Parameter" and id(node) not in params:
            raise GraphValidationError(
                f"model {model.name!r}: Parameter {node.name!r} is used but not a model input")
        for i, port in enumerate(node.inputs):
            if port.index >= len(port.node.output_types):
                raise GraphValidationError(
                    f"node {node.name!r}: input {i} reads output {port.index} of {port.node.name!r}, "
                    f"which has {len(port.node.output_types)} outputs")
        stored = list(node.output_types)
        node.infer()
        if node.output_types != stored:
            fresh = node.output_types
            node.output_types = stored
            raise GraphValidationError(
                f"node {node.name!r} ({node.type_name}): stored output types {stored} differ from "
                f"inferred {fresh}")
