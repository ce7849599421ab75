"""Device-neutral compilation of a Model into a schedule of fused steps and a buffer plan.

:func:`build_schedule` folds constant subgraphs, then walks the graph in
topological order and groups nodes into :class:`Step`\\ s:

- an *anchor* step: one heavy node the device has a kernel for (convolution,
  matmul, pooling, ...), followed by an epilogue :class:`~kiln.drivers.fusion.Chain`
  of elementwise nodes (bias, BatchNorm, residual add, activation) applied to
  its output while it is still hot;
- a *chain* step: a run of elementwise nodes fused into one loop;
- a *node* step: any other node, run alone (the CPU runs the numpy reference).

A node is absorbed into a chain only when the value it extends has exactly one
reader, the element types are f32 and the node's output has the chain's shape;
its other inputs must be constants or values computed by earlier steps.

:func:`plan_buffers` then gives every value a device writes into a slot of a
reusable arena, sharing a slot between values whose lifetimes do not overlap.
The CPU driver executes this schedule; the GPU driver reuses it unchanged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
from kiln.drivers.fusion import ELEMENTWISE, PREV, Chain, ChainOp, LowerContext
from kiln.errors import CompileError
from kiln.ir import ElementType, Model, Node, Output, is_static
from kiln.ir.evaluate import run_node


@dataclasses.dataclass
class Step:
    """One kernel launch: ``kind`` is "anchor", "chain" or "node".

    ``node`` is the anchor (or the node run alone, or the first node of a chain);
    ``nodes`` every IR node the step computes, in order; ``chain`` the fused
    elementwise program (for an anchor its operand 0 is the anchor's output 0);
    ``inputs`` every port the step reads; ``outputs`` the ports it produces.
    """

    kind: str
    node: Node
    nodes: list[Node]
    chain: Chain | None
    inputs: list[Output]
    outputs: list[Output]

    @property
    def name(self) -> str:
        return self.nodes[-1].name if self.kind != "node" else self.node.name

    @property
    def type_name(self) -> str:
        """A label for profiles: the fused node types joined by '+'."""
        return "+".join(n.type_name for n in self.nodes)


@dataclasses.dataclass
class Schedule:
    """Steps in execution order, the folded constants, and the model's ports."""

    steps: list[Step]
    constants: dict[Output, np.ndarray]
    inputs: list[Output]
    outputs: list[Output]


def fold_constants(model: Model) -> dict[Output, np.ndarray]:
    """Return the value of every port computable without model inputs.

    Constant nodes, nodes whose inputs are all constant, and ShapeOf of a static
    shape are folded with the numpy reference.
    """
    values: dict[Output, np.ndarray] = {}
    for node in model.ordered_nodes():
        if node.type_name in ("Parameter", "Result"):
            continue
        if node.type_name == "Constant":
            values[node.output(0)] = np.asarray(node.attrs["value"])
            continue
        if node.type_name == "ShapeOf" and is_static(node.inputs[0].shape):
            etype = node.attrs.get("output_type", ElementType.i64)
            etype = etype if isinstance(etype, ElementType) else ElementType(str(etype))
            values[node.output(0)] = np.array(node.inputs[0].shape, dtype=etype.numpy)
            continue
        if node.inputs and all(p in values for p in node.inputs):
            outs = run_node(node, [values[p] for p in node.inputs])
            for i, value in enumerate(outs):
                values[Output(node, i)] = value
    return values


def build_schedule(model: Model, is_anchor: Callable[[Node, dict[Output, np.ndarray]], bool]
                   ) -> Schedule:
    """Group the nodes of ``model`` into fused steps.

    ``is_anchor(node, constants)`` says whether the device has a buffer-writing
    kernel for ``node`` that takes an elementwise epilogue.
    """
    constants = fold_constants(model)
    order = model.ordered_nodes()
    readers: dict[Output, int] = {}
    for node in order:
        for port in node.inputs:
            readers[port] = readers.get(port, 0) + 1
    consumers = model.consumers()
    ready: set[Output] = set(constants) | set(model.inputs)
    absorbed: set[int] = set()
    steps: list[Step] = []
    for node in order:
        if id(node) in absorbed or node.type_name in ("Parameter", "Result", "Constant"):
            continue
        if all(p in constants for p in node.outputs):
            continue
        if is_anchor(node, constants):
            chain = Chain([node.output(0)], [], _static(node.output(0)))
            step = Step("anchor", node, [node], chain, list(node.inputs), [node.output(0)])
        else:
            chain = _start_chain(node, constants)
            if chain is None:
                step = Step("node", node, [node], None, list(node.inputs), node.outputs)
                steps.append(step)
                ready.update(step.outputs)
                continue
            step = Step("chain", node, [node], chain, _runtime_ports(chain), [node.output(0)])
        _extend(step, consumers, readers, constants, ready, absorbed)
        if step.kind == "anchor" and not step.chain.ops:
            step.chain = None
        steps.append(step)
        ready.update(step.outputs)
    return Schedule(steps, constants, model.inputs, model.outputs)


def _static(port: Output) -> tuple[int, ...] | None:
    return tuple(port.shape) if is_static(port.shape) else None


def _fusible_type(port: Output) -> bool:
    return port.element_type == ElementType.f32 and is_static(port.shape)


def _lower(node: Node, chain: Chain, refs: list[int], constants) -> bool:
    """Append ``node`` (its inputs at ``refs``) to ``chain``; return False if it is not fusible."""
    lowering = ELEMENTWISE.get(node.type_name)
    if lowering is None or len(node.outputs) != 1 or not _fusible_type(node.output(0)):
        return False
    added: list[np.ndarray] = []
    base = len(chain.operands)

    def add_const(value: np.ndarray) -> int:
        added.append(np.asarray(value, np.float32))
        return base + len(added) - 1

    ctx = LowerContext(node, refs, [constants.get(p) for p in node.inputs], add_const)
    try:
        ops = lowering(ctx)
    except (KeyError, TypeError, ValueError):
        return False
    if ops is None:
        return False
    chain.operands.extend(added)
    for op in ops:
        args = tuple(chain.result if a == PREV else a for a in op.args)
        chain.ops.append(ChainOp(op.name, args, op.params))
    _prune(chain)
    return True


def _prune(chain: Chain) -> None:
    """Drop operands no op reads (operand 0, an anchor's output, always stays)."""
    used = {0} | {a for op in chain.ops for a in op.args if a >= 0}
    if len(used) == len(chain.operands):
        return
    keep = [i for i in range(len(chain.operands)) if i in used]
    new_index = {old: new for new, old in enumerate(keep)}
    chain.operands = [chain.operands[i] for i in keep]
    chain.ops = [ChainOp(o.name, tuple(new_index[a] if a >= 0 else a for a in o.args), o.params)
                 for o in chain.ops]


def _operand(chain: Chain, port: Output, constants) -> int | None:
    """Append ``port`` (or its constant value) as an operand; return its reference."""
    if port in constants:
        value = constants[port]
        if value.dtype != np.float32:
            return None
        chain.operands.append(value)
    else:
        if not _fusible_type(port):
            return None
        chain.operands.append(port)
    return len(chain.operands) - 1


def _start_chain(node: Node, constants) -> Chain | None:
    shape = _static(node.output(0))
    if shape is None or node.type_name not in ELEMENTWISE:
        return None
    chain = Chain([], [], shape)
    refs = [_operand(chain, port, constants) for port in node.inputs]
    if None in refs or not _lower(node, chain, refs, constants):
        return None
    return chain


def _runtime_ports(chain: Chain) -> list[Output]:
    return [p for p in chain.operands if isinstance(p, Output)]


def _extend(step: Step, consumers, readers, constants, ready: set[Output], absorbed: set[int]) -> None:
    """Absorb following elementwise nodes into ``step.chain`` while that stays legal."""
    if step.chain.shape is None:
        return
    current = step.outputs[0]
    while readers.get(current, 0) == 1:
        (user, slot), = consumers[current]
        if user.type_name not in ELEMENTWISE or id(user) in absorbed:
            return
        if _static(user.output(0)) != step.chain.shape:
            return
        others = [p for i, p in enumerate(user.inputs) if i != slot]
        if any(p not in constants and p not in ready for p in others):
            return
        trial = Chain(list(step.chain.operands), list(step.chain.ops), step.chain.shape)
        refs = [trial.result if i == slot else _operand(trial, p, constants)
                for i, p in enumerate(user.inputs)]
        if None in refs or not _lower(user, trial, refs, constants):
            return
        step.chain = trial
        step.nodes.append(user)
        step.inputs.extend(p for p in others if p not in constants and p not in step.inputs)
        step.outputs = [user.output(0)]
        absorbed.add(id(user))
        current = user.output(0)


@dataclasses.dataclass
class BufferPlan:
    """Arena slots (bytes each) and which slot holds each planned port."""

    slot_bytes: list[int]
    slot_of: dict[Output, int]

    @property
    def total_bytes(self) -> int:
        return sum(self.slot_bytes)


def nbytes(port: Output) -> int:
    """Return the size in bytes of a port with a static shape."""
    if not is_static(port.shape):
        raise CompileError(f"port {port.name!r} has dynamic shape; reshape the model first")
    return int(np.prod(port.shape, dtype=np.int64)) * port.element_type.numpy.itemsize


def concat_in_place(schedule: Schedule, owns_output: Callable[[Step], bool]
                    ) -> dict[Output, tuple[Output, int]]:
    """Return ``{input port: (Concat output port, byte offset)}`` for Concats computed in place.

    A Concat qualifies when every dimension before its axis is 1 (so each input is
    one contiguous block of the output), shapes are static, its output is not a
    model output, and each input is produced alone by an output-owning step and
    read by nothing else. Those producers then write straight into the Concat's
    buffer and the Concat itself copies nothing.
    """
    readers: dict[Output, int] = {}
    for step in schedule.steps:
        for port in step.inputs:
            readers[port] = readers.get(port, 0) + 1
    producer = {port: step for step in schedule.steps for port in step.outputs}
    results = set(schedule.outputs)
    aliases: dict[Output, tuple[Output, int]] = {}
    for step in schedule.steps:
        node = step.node
        if step.kind != "node" or node.type_name != "Concat" or len(node.output_types) != 1:
            continue
        out = node.output(0)
        if out in results or not is_static(out.shape) or len(set(node.inputs)) != len(node.inputs):
            continue
        rank = len(out.shape)
        axis = int(node.attrs.get("axis", 0)) % max(rank, 1)
        if any(d != 1 for d in out.shape[:axis]):
            continue
        ok = all(p in producer and owns_output(producer[p]) and producer[p].outputs == [p]
                 and readers.get(p) == 1 and p not in results and p not in aliases
                 and p.element_type == out.element_type for p in node.inputs)
        if not ok:
            continue
        offset = 0
        for port in node.inputs:
            aliases[port] = (out, offset)
            offset += nbytes(port)
    return aliases


def plan_buffers(schedule: Schedule, owns_output: Callable[[Step], bool], align: int = 64,
                 aliases: dict[Output, tuple[Output, int]] | None = None) -> BufferPlan:
    """Assign arena slots to the outputs of steps for which ``owns_output(step)`` is True.

    Model outputs get no slot (they are returned to the caller). A step that does
    not own its outputs is assumed to return views of its inputs, so the slots
    its inputs live in stay reserved until its outputs' last reader. A port in
    ``aliases`` (see :func:`concat_in_place`) lives inside its target's slot, which
    is then reserved from the first of its parts' producers on.
    """
    aliases = aliases or {}
    targets = {target for target, _ in aliases.values()}
    results = set(schedule.outputs)
    roots: dict[Output, set[Output]] = {}
    first_def: dict[Output, int] = {}
    planned: list[tuple[int, Output]] = []
    for index, step in enumerate(schedule.steps):
        owned = owns_output(step)
        for port in step.outputs:
            if port in aliases:
                target = aliases[port][0]
                roots[port] = {target}
                first_def[target] = min(first_def.get(target, index), index)
            elif port in targets:
                roots[port] = {port}
                planned.append((first_def.get(port, index), port))
            elif owned and port not in results:
                roots[port] = {port}
                planned.append((index, port))
            else:
                roots[port] = set().union(*(roots.get(p, set()) for p in step.inputs)) if not owned else set()
    planned.sort(key=lambda item: item[0])
    last_use: dict[Output, int] = {}
    end = len(schedule.steps)
    for index, step in enumerate(schedule.steps):
        for port in step.inputs:
            for root in roots.get(port, ()):
                last_use[root] = max(last_use.get(root, index), index)
    for port in schedule.outputs:
        for root in roots.get(port, ()):
            last_use[root] = end
    slot_bytes: list[int] = []
    holder_end: list[int] = []
    slot_of: dict[Output, int] = {}
    for index, port in planned:
        size = -(-nbytes(port) // align) * align
        free = [s for s in range(len(slot_bytes)) if holder_end[s] < index]
        fitting = [s for s in free if slot_bytes[s] >= size]
        if fitting:
            slot = min(fitting, key=lambda s: slot_bytes[s])
        elif free:
            slot = max(free, key=lambda s: slot_bytes[s])
            slot_bytes[slot] = size
        else:
            slot = len(slot_bytes)
            slot_bytes.append(size)
            holder_end.append(-1)
        holder_end[slot] = last_use.get(port, index)
        slot_of[port] = slot
    return BufferPlan(slot_bytes, slot_of)
