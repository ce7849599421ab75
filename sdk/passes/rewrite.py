"""Graph-rewriting primitives shared by the passes: rewire consumers, read constants.

A model's nodes are whatever is reachable from its Results (and Parameters), so a
node every consumer has been rewired away from is gone: dead-node elimination is a
consequence of every rewrite here.
"""

from __future__ import annotations

import numpy as np
from kiln.ir import Model, Node, Output, output_name


class Consumers:
    """Who reads each port of a model; kept current by :meth:`replace`."""

    def __init__(self, model: Model):
        self.model = model
        self.users: dict[Output, list[tuple[Node, int]]] = model.consumers()

    def of(self, port: Output) -> list[tuple[Node, int]]:
        """Return the (node, input index) pairs reading ``port``."""
        return self.users.get(port, [])

    def only(self, port: Output) -> Node | None:
        """Return the single consumer of ``port`` when there is exactly one (and it is no Result)."""
        users = self.of(port)
        if len(users) == 1 and users[0][0].type_name != "Result":
            return users[0][0]
        return None

    def replace(self, old: Output, new: Output) -> bool:
        """Make every reader of ``old`` read ``new``; move ``old``'s tensor names to ``new``.

        Refuses (returns False, changes nothing) when a model output would change its
        name: one fed by ``old`` (when ``new`` carries other tensor names) or one fed by
        ``new`` (when ``old``'s names would sort first).
        """
        if old == new:
            return False
        users = self.of(old)
        results = [node for node, _ in users + self.of(new) if node.type_name == "Result"]
        before = [output_name(r) for r in results]
        saved_names = set(new.names)
        new.names.update(old.names)
        for node, index in users:
            node.inputs[index] = new
        if [output_name(r) for r in results] != before:
            for node, index in users:
                node.inputs[index] = old
            new.names.clear()
            new.names.update(saved_names)
            return False
        old.names.clear()
        self.users.setdefault(new, []).extend(users)
        self.users[old] = []
        return True

    def add(self, node: Node) -> None:
        """Record the inputs of a node created by a rewrite."""
        for index, port in enumerate(node.inputs):
            self.users.setdefault(port, []).append((node, index))


def constant_value(port: Output) -> np.ndarray | None:
    """Return the value of ``port`` when a Constant produces it, else None."""
    return port.constant_value()


def unique_name(model_names: set[str], base: str) -> str:
    """Return ``base`` (or ``base_2``, ``base_3``, ...) not yet in ``model_names``; record it."""
    name, suffix = base, 2
    while name in model_names:
        name = f"{base}_{suffix}"
        suffix += 1
    model_names.add(name)
    return name


def node_names(model: Model) -> set[str]:
    """Return the names of every node of ``model``."""
    return {node.name for node in model.ordered_nodes()}


def per_channel(value: np.ndarray, out_rank: int, channels: int, axis: int = 1) -> np.ndarray | None:
    """Return ``value`` as a 1-D array of ``channels`` when it broadcasts along ``axis`` only.

    ``value`` must broadcast against an output of rank ``out_rank`` without changing
    its shape and vary (at most) along ``axis``; a scalar gives ``channels`` copies.
    Returns None when the constant does not have that form.
    """
    value = np.asarray(value)
    if value.ndim > out_rank:
        return None
    shape = (1,) * (out_rank - value.ndim) + value.shape
    axis = axis % out_rank
    if any(d != 1 for i, d in enumerate(shape) if i != axis) or shape[axis] not in (1, channels):
        return None
    return np.broadcast_to(value.reshape(-1) if value.size > 1 else value.reshape(1), (channels,)).copy()
