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
          properties: Mapping[str, Any], emit_int8: bool = False) -> Placement:
    """Return the Placement of ``model`` over ``priorities`` (device names, first preferred).

    With ``emit_int8`` (when compiling; it changes ``model``), a FakeQuantize that is the
    only reader of a tensor crossing from one device to another is also run by the
    producing device (see :func:`_emit_int8_at_boundaries`).

    Raises DeviceError naming every node that no device takes, with each device's reason.
    """
    order = model.ordered_nodes()
    seen: set[str] = set()
    for node in order:
        if node.name in seen:
            raise DeviceError(f"HETERO: model {model.name!r} has two nodes named {node.name!r}; "
                              "placement needs unique node names")
        seen.add(node.name)
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
    followers = _followers(model, order, devices, taken, priorities[0], reasons)
    if emit_int8:
        for emitted in _emit_int8_at_boundaries(model, devices, followers):
            devices[emitted.name] = devices[emitted.inputs[0].node.name]
        order = model.ordered_nodes()
    subgraphs = split(order, {n: d for n, d in devices.items() if n not in followers}, model.outputs,
                      followers)
    types = {n.name: n.type_name for n in order}
    return Placement(list(priorities), devices, reasons, subgraphs, types)


def _followers(model: Model, order: list[Node], devices: dict[str, str], taken: Mapping[str, set],
               first: str, reasons: dict[str, str]) -> set[str]:
    """Return the FakeQuantize nodes that run inside their readers' subgraphs (copied per subgraph).

    A FakeQuantize belongs with the layer that reads it (a device lowers the pair to integer
    arithmetic), so it is copied into each reading subgraph, provided every reader's device
    takes it; the float tensor crosses the boundary. One that is the only reader of a
    producer on its own device stays with that producer instead (a pooling layer that
    writes int8 at the next layer's scale). ``devices`` and ``reasons`` are updated
    to where it then runs.
    """
    readers = model.consumers()
    followers: set[str] = set()
    for node in order:
        if node.type_name != "FakeQuantize" or node.name not in devices:
            continue
        users = [r for r, _ in readers.get(node.output(0), [])]
        if not users or any(u.name not in devices or u.type_name == "FakeQuantize" for u in users):
            continue
        if not all(node.name in taken[devices[u.name]] for u in users):
            continue
        source = node.inputs[0]
        if devices.get(source.node.name) == devices[node.name] and len(readers.get(source, [])) == 1:
            continue  # it re-quantizes its producer's only output: keep it with the producer
        followers.add(node.name)
        where = sorted({devices[u.name] for u in users})
        devices[node.name] = devices[users[0].name]
        if where == [first]:
            reasons.pop(node.name, None)
        else:
            note = f"runs with its reader(s) on {','.join(where)}"
            reasons[node.name] = f"{reasons[node.name]}; {note}" if node.name in reasons else note
    return followers


def _emit_int8_at_boundaries(model: Model, devices: Mapping[str, str], followers: set[str]) -> list[Node]:
    """Give each boundary FakeQuantize a twin on the producer's side; return the twins.

    When a FakeQuantize is the only reader of its producer's output and some reader of the
    FakeQuantize runs on another device, a copy of it (same ranges and levels, named
    ``<name>/emit``) is put between the producer and it. The producing device then hands
    over int8 values at that scale (a VPU pooling layer writes int8), and the reading
    subgraph still sees its FakeQuantize. FakeQuantize is idempotent, so values do not change.
    """
    readers = model.consumers()
    twins = []
    for node in model.ordered_nodes():
        if node.name not in followers:
            continue
        source = node.inputs[0]
        producer_device = devices.get(source.node.name)
        if producer_device is None or source.node.name in followers or len(readers.get(source, [])) != 1:
            continue
        users = [u for u, _ in readers.get(node.output(0), [])]
        if all(devices[u.name] == producer_device for u in users):
            continue
        twin = Node(node.op, [source, *node.inputs[1:]], dict(node.attrs), name=f"{node.name}/emit")
        node.inputs[0] = twin.output(0)
        twins.append(twin)
    return twins


def split(order: list[Node], devices: Mapping[str, str], model_outputs: Sequence[Output],
          followers: set[str] = frozenset()) -> list[Subgraph]:
    """Group placed nodes into acyclic device subgraphs; return them in an order they can run.

    A node joins a subgraph of its device (its producers' first, then the newest) when the
    data edges this adds between subgraphs close no cycle; otherwise it starts a new one.
    ``followers`` (names) are not placed: a subgraph reading one reads its inputs instead.
    """

    def sources(port: Output) -> list[Output]:
        if port.node.name in followers:
            return [s for p in port.node.inputs for s in sources(p)]
        return [port]

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
        producers = {member[id(p.node)] for q in node.inputs for p in sources(q) if id(p.node) in member}
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
            for port in (p for q in node.inputs for p in sources(q)):
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
