"""Assign each node of a model to a device and split the graph into acyclic device subgraphs.

Devices are asked in priority order; a node goes to the first device whose
``query_model`` takes it. Constant-only nodes (weights and what is computed from them
alone) are not placed: they are copied into every subgraph that reads them, so a device
always sees its weights as constants. Subgraphs are grown greedily in topological order;
a node joins a producer's subgraph of the same device only when that creates no cycle
between subgraphs, else it starts a new one.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from kiln.drivers.plugin import Plugin
from kiln.errors import DeviceError
from kiln.ir import Model, Node, Output

BOUNDARY_TYPES = ("Parameter", "Result")


@dataclasses.dataclass
class Subgraph:
    """A connected run of nodes on one device.

    ``inputs``: ports produced outside it (other subgraphs or model inputs), in the order
    its compiled model takes them; ``outputs``: ports of its nodes read outside it.
    """

    index: int
    device: str
    nodes: list[Node]
    inputs: list[Output] = dataclasses.field(default_factory=list)
    outputs: list[Output] = dataclasses.field(default_factory=list)

    @property
    def name(self) -> str:
        return f"subgraph{self.index}_{self.device}"


@dataclasses.dataclass
class Placement:
    """Where each node runs and why it is not on a device earlier in the priority list."""

    priorities: list[str]
    devices: dict[str, str]
    reasons: dict[str, str]
    subgraphs: list[Subgraph]
    types: dict[str, str]

    def count(self, device: str, op_types: Sequence[str] | None = None) -> int:
        """Return how many nodes (of ``op_types``, if given) are placed on ``device``."""
        return sum(1 for name, dev in self.devices.items()
                   if dev == device and (op_types is None or self.types[name] in op_types))

    def report(self) -> str:
        """Return a readable account: the subgraphs, then every node not on the first device."""
        lines = [f"HETERO placement over {','.join(self.priorities)}: {len(self.subgraphs)} subgraph(s)"]
        for sub in self.subgraphs:
            ops = Counter(n.type_name for n in sub.nodes)
            summary = ", ".join(f"{t} x{c}" for t, c in ops.most_common())
            lines.append(f"  {sub.name}: {len(sub.nodes)} node(s), {len(sub.inputs)} in / "
                         f"{len(sub.outputs)} out: {summary}")
        if self.reasons:
            lines.append(f"nodes not on {self.priorities[0]}:")
            width = max(len(n) for n in self.reasons)
            for name, reason in self.reasons.items():
                lines.append(f"  {name:<{width}}  {self.types[name]:<16} -> {self.devices[name]:<5} "
                             f"{reason}")
        return "\n".join(lines)

    __str__ = report


def constant_nodes(model: Model) -> set[int]:
    """Return ids of nodes computed from Constants alone (no Parameter upstream)."""
    result: set[int] = set()
    for node in model.ordered_nodes():
        if node.type_name == "Constant" or (
                node.type_name not in BOUNDARY_TYPES and node.inputs
                and all(id(p.node) in result for p in node.inputs)):
            result.add(id(node))
    return result


def place(model: Model, priorities: Sequence[str], plugins: Mapping[str, Plugin],
          properties: Mapping[str, Any]) -> Placement:
    """Return the Placement of ``model`` over ``priorities`` (device names, first preferred).

    Raises DeviceError naming every node that no device takes, with each device's reason.
    """
    order = model.ordered_nodes()
    consts = constant_nodes(model)
    result_readers = {id(r.inputs[0].node) for r in model.results}
    taken = {dev: set(plugins[dev].query_model(model, properties)) for dev in priorities}
    why: dict[str, dict[str, str]] = {}

    def reason_of(dev: str, node: Node) -> str:
        if dev not in why:
            why[dev] = plugins[dev].placement_reasons(model, properties)
        return why[dev].get(node.name, f"{dev} does not run {node.type_name}")

    devices: dict[str, str] = {}
    reasons: dict[str, str] = {}
    homeless: list[str] = []
    for node in order:
        if node.type_name in BOUNDARY_TYPES:
            continue
        if id(node) in consts and id(node) not in result_readers:
            continue
        skipped = []
        for dev in priorities:
            if node.name in taken[dev]:
                devices[node.name] = dev
                break
            skipped.append(f"{dev}: {reason_of(dev, node)}")
        else:
            homeless.append(f"{node.name} ({node.type_name}): " + "; ".join(skipped))
            continue
        if skipped:
            reasons[node.name] = "; ".join(skipped)
    if homeless:
        raise DeviceError(f"HETERO:{','.join(priorities)}: no device runs {len(homeless)} node(s): "
                          + " | ".join(homeless[:10]))
    subgraphs = split(order, devices, model.outputs)
    types = {n.name: n.type_name for n in order}
    return Placement(list(priorities), devices, reasons, subgraphs, types)


def split(order: list[Node], devices: Mapping[str, str], model_outputs: Sequence[Output]) -> list[Subgraph]:
    """Group placed nodes into acyclic device subgraphs; return them in an order they can run.

    A node joins a subgraph of its device (its producers' first, then the newest) when the
    data edges this adds between subgraphs close no cycle; otherwise it starts a new one.
    """
    member: dict[int, int] = {}   # id(node) -> subgraph index
    nodes: list[list[Node]] = []
    device_of: list[str] = []
    edges: list[set[int]] = []    # subgraph -> subgraphs reading it

    def reaches(start: int, targets: set[int]) -> bool:
        stack, seen = [start], {start}
        while stack:
            current = stack.pop()
            if current in targets:
                return True
            for nxt in edges[current] - seen:
                seen.add(nxt)
                stack.append(nxt)
        return False

    for node in order:
        dev = devices.get(node.name)
        if dev is None:
            continue
        producers = {member[id(p.node)] for p in node.inputs if id(p.node) in member}
        mine = sorted((s for s in producers if device_of[s] == dev), key=lambda s: -len(nodes[s]))
        rest = [s for s in range(len(nodes) - 1, -1, -1) if device_of[s] == dev and s not in producers]
        chosen = None
        for cand in mine + rest:
            if not reaches(cand, producers - {cand}):
                chosen = cand
                break
        if chosen is None:
            chosen = len(nodes)
            nodes.append([])
            device_of.append(dev)
            edges.append(set())
        nodes[chosen].append(node)
        member[id(node)] = chosen
        for producer in producers - {chosen}:
            edges[producer].add(chosen)
    run_order = _topological(edges)
    renumber = {old: new for new, old in enumerate(run_order)}
    subgraphs = [Subgraph(renumber[i], device_of[i], nodes[i]) for i in run_order]
    read_outside: set[Output] = set(model_outputs)
    for sub in subgraphs:
        inside = {id(n) for n in sub.nodes}
        for node in sub.nodes:
            for port in node.inputs:
                external = id(port.node) in member and id(port.node) not in inside
                if (external or port.node.type_name == "Parameter") and port not in sub.inputs:
                    sub.inputs.append(port)
                    read_outside.add(port)
    for sub in subgraphs:
        sub.outputs = [port for node in sub.nodes for port in node.outputs if port in read_outside]
    return subgraphs


def _topological(edges: list[set[int]]) -> list[int]:
    indegree = [0] * len(edges)
    for targets in edges:
        for t in targets:
            indegree[t] += 1
    ready = [i for i, d in enumerate(indegree) if d == 0]
    order = []
    while ready:
        ready.sort()
        current = ready.pop(0)
        order.append(current)
        for t in edges[current]:
            indegree[t] -= 1
            if indegree[t] == 0:
                ready.append(t)
    if len(order) != len(edges):
        raise DeviceError("HETERO: internal error: device subgraphs form a cycle")
    return order
