"""The HETERO plugin: run each part of a model on the first device (by priority) that takes it.

``core.compile_model(model, "HETERO:VPU,CPU")`` passes ``DEVICE_PRIORITIES="VPU,CPU"``.
The model is split into device subgraphs (see :mod:`kiln.drivers.hetero.placement`), each
compiled by its device's plugin; at run time the subgraphs run in dependency order and
tensors crossing a boundary are converted to the element type the reading subgraph
declares. ``compiled.executable.placement`` holds where each node runs and why.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
from kiln.drivers.hetero.placement import Placement, Subgraph, place
from kiln.drivers.plugin import Executable, Plugin, get_plugin
from kiln.errors import CompileError, DeviceError
from kiln.ir import Model, Node, Output, parameter

PRIORITIES = "DEVICE_PRIORITIES"
TRACE_PATH = "HETERO_TRACE_PATH"
"""Property: write each inference's subgraph timeline to this path (Perfetto JSON)."""


def subgraph_model(sub: Subgraph, name: str) -> Model:
    """Return a standalone Model of ``sub``: a Parameter per input port, a Result per output.

    Nodes keep their names; constant-only producers (weights) are copied in.
    """
    copies: dict[int, Node] = {}
    feeds: dict[Output, Output] = {}
    params = []
    boundary = set(sub.inputs)
    used: set[str] = set()  # names of every node copied in, so no Parameter takes one
    stack = list(sub.nodes)
    while stack:
        node = stack.pop()
        if node.name not in used:
            used.add(node.name)
            stack.extend(p.node for p in node.inputs if p not in boundary)
    for port in sub.inputs:
        pname = port.name
        while pname in used:
            pname += "_"
        used.add(pname)
        param = parameter(pname, port.element_type, port.shape)
        param.output_names[0] |= set(port.names)
        params.append(param)
        feeds[port] = param.output(0)

    def copy(node: Node) -> Node:
        if id(node) in copies:
            return copies[id(node)]
        stack = [node]
        while stack:
            current = stack[-1]
            pending = [p.node for p in current.inputs
                       if Output(p.node, p.index) not in feeds and id(p.node) not in copies]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            if id(current) in copies:
                continue
            twin = Node.__new__(Node)
            twin.op, twin.name, twin.attrs = current.op, current.name, dict(current.attrs)
            twin.inputs = [feeds[p] if p in feeds else Output(copies[id(p.node)], p.index)
                           for p in current.inputs]
            twin.output_types = list(current.output_types)
            twin.output_names = [set(n) for n in current.output_names]
            twin.rt_info = dict(current.rt_info)
            copies[id(current)] = twin
        return copies[id(node)]

    # A FakeQuantize that ran in another subgraph is applied again to what it hands over
    # (FakeQuantize is idempotent): a device lowering int8 layers then still knows the scale.
    inside = {id(n) for n in sub.nodes}
    readers = {}
    for node in sub.nodes:
        for p in node.inputs:
            readers.setdefault(p, []).append(node)
    for port in sub.inputs:
        fq = port.node
        if fq.type_name != "FakeQuantize" or any(p.constant_value() is None for p in fq.inputs[1:]):
            continue
        if all(r.type_name == "FakeQuantize" and id(r) in inside for r in readers.get(port, [])):
            continue  # its readers quantize it themselves
        name = f"{fq.name}/again"
        while name in used:
            name += "_"
        used.add(name)
        ranges = [Output(copy(p.node), p.index) for p in fq.inputs[1:]]
        feeds[port] = Node(fq.op, [feeds[port], *ranges], dict(fq.attrs), name=name).output(0)
    for node in sub.nodes:
        copy(node)
    results = [Output(copies[id(p.node)], p.index) for p in sub.outputs]
    return Model(results, params, name=name)


class HeteroExecutable(Executable):
    """Runs the compiled subgraphs in order, passing boundary tensors between devices."""

    def __init__(self, model: Model, placement: Placement, executables: list[Executable],
                 sub_models: list[Model]):
        self.model = model
        self.placement = placement
        self.executables = executables
        self.sub_models = sub_models
        self._timings: list[tuple[float, float]] = [(0.0, 0.0)] * len(executables)
        self._lock = threading.Lock()
        self.trace_path: str | None = None

    def infer(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        values: dict[Output, np.ndarray] = dict(zip(self.model.inputs, inputs))
        timings = []
        for sub, sub_model, executable in zip(self.placement.subgraphs, self.sub_models, self.executables):
            feed = []
            for port, param in zip(sub.inputs, sub_model.parameters):
                value = values[port]
                want = param.attrs["element_type"].numpy
                feed.append(value if value.dtype == want else value.astype(want))
            start = time.perf_counter()
            outs = executable.infer(feed)
            timings.append((start, time.perf_counter() - start))
            if len(outs) != len(sub.outputs):
                raise DeviceError(f"HETERO: {sub.name} returned {len(outs)} outputs, expected "
                                  f"{len(sub.outputs)}")
            values.update(zip(sub.outputs, outs))
        with self._lock:
            self._timings = timings
            if self.trace_path:
                self.write_trace(self.trace_path)
        outputs = []
        for port in self.model.outputs:
            value, want = values[port], port.element_type.numpy
            outputs.append(value if value.dtype == want else value.astype(want))
        return outputs

    def profiling_info(self) -> list[dict[str, Any]]:
        """Return one row per subgraph of the last inference: name, device, nodes, time (ms)."""
        with self._lock:
            timings = list(self._timings)
        rows = []
        for sub, (_, seconds), executable in zip(self.placement.subgraphs, timings, self.executables):
            rows.append({"name": sub.name, "device": sub.device, "nodes": len(sub.nodes),
                         "time_ms": seconds * 1e3, "detail": executable.profiling_info()})
        return rows

    def write_trace(self, path: str) -> None:
        """Write the last inference as a Chrome/Perfetto trace: one track per device, one span per subgraph.

        Open it at https://ui.perfetto.dev. Times are host wall-clock microseconds.
        """
        timings = list(self._timings)
        origin = min((t for t, _ in timings), default=0.0)
        devices = list(dict.fromkeys(s.device for s in self.placement.subgraphs))
        events = [{"ph": "M", "name": "thread_name", "pid": 1, "tid": devices.index(d) + 1,
                   "args": {"name": d}} for d in devices]
        for sub, (start, seconds) in zip(self.placement.subgraphs, timings):
            ops = ", ".join(sorted({n.type_name for n in sub.nodes}))
            events.append({"ph": "X", "name": sub.name, "pid": 1, "tid": devices.index(sub.device) + 1,
                           "ts": (start - origin) * 1e6, "dur": seconds * 1e6,
                           "args": {"nodes": len(sub.nodes), "ops": ops,
                                    "inputs": [p.name for p in sub.inputs],
                                    "outputs": [p.name for p in sub.outputs]}})
        with open(path, "w") as f:
            json.dump({"traceEvents": events, "displayTimeUnit": "ms"}, f)


class HeteroPlugin(Plugin):
    """Virtual device "HETERO": splits a model over ``DEVICE_PRIORITIES`` (e.g. "VPU,CPU")."""

    device_name = "HETERO"
    priority = 0
    virtual = True

    def __init__(self):
        self._plugins: dict[str, Plugin] = {}

    def supported_properties(self) -> dict[str, Any]:
        return {PRIORITIES: "CPU", TRACE_PATH: None}

    def devices(self, properties: Mapping[str, Any]) -> tuple[list[str], dict[str, Plugin]]:
        """Return the priority list and the plugin of each device; check each is usable."""
        text = properties.get(PRIORITIES) or ""
        names = [d.strip() for d in str(text).split(",") if d.strip()]
        if not names:
            raise DeviceError('HETERO needs device priorities, e.g. "HETERO:VPU,CPU"')
        if len(set(names)) != len(names):
            raise DeviceError(f"HETERO: device {names} listed twice in {text!r}")
        for name in names:
            if name in ("HETERO", "AUTO"):
                raise DeviceError(f"HETERO: {name} cannot be one of HETERO's devices")
            if name not in self._plugins:
                self._plugins[name] = get_plugin(name)()
            if not self._plugins[name].available():
                raise DeviceError(f"HETERO: {self._plugins[name].unavailable_reason()}")
        return names, {n: self._plugins[n] for n in names}

    def placement(self, model: Model, properties: Mapping[str, Any]) -> Placement:
        """Return where each node of ``model`` would run, with reasons and subgraphs."""
        names, plugins = self.devices(properties)
        return place(model, names, plugins, _device_properties(properties))

    def query_model(self, model, properties):
        return dict(self.placement(model, properties).devices)

    def placement_reasons(self, model, properties):
        return dict(self.placement(model, properties).reasons)

    def compile_model(self, model, properties):
        names, plugins = self.devices(properties)
        placement = place(model, names, plugins, _device_properties(properties), emit_int8=True)
        inner = _device_properties(properties)
        executables, sub_models = [], []
        for sub in placement.subgraphs:
            sub_model = subgraph_model(sub, f"{model.name}/{sub.name}")
            sub_models.append(sub_model)
            executables.append(_compile_subgraph(sub, sub_model, names, plugins, inner, placement))
        executable = HeteroExecutable(model, placement, executables, sub_models)
        executable.trace_path = properties.get(TRACE_PATH)
        return executable


def _compile_subgraph(sub: Subgraph, sub_model: Model, names: list[str], plugins: Mapping[str, Plugin],
                      properties: Mapping[str, Any], placement: Placement) -> Executable:
    """Compile ``sub`` on its device; when that compiler refuses it, fall back to a later device.

    The fallback device must take every node of the subgraph; the placement then records
    the move and the compiler's reason for each node. Raises CompileError when none can.
    """
    try:
        return plugins[sub.device].compile_model(sub_model.clone(), properties)
    except CompileError as error:
        failed, reason = sub.device, f"{sub.device}: compiling {sub.name} failed: {error}"
    nodes = [n for n in sub_model.ordered_nodes() if n.type_name not in ("Parameter", "Result", "Constant")]
    for device in names[names.index(failed) + 1:]:
        taken = plugins[device].query_model(sub_model, properties)
        if any(n.name not in taken for n in nodes):
            continue
        executable = plugins[device].compile_model(sub_model.clone(), properties)
        sub.device = device
        for node in sub.nodes:
            placement.devices[node.name] = device
            earlier = placement.reasons.get(node.name)
            placement.reasons[node.name] = f"{earlier}; {reason}" if earlier else reason
        return executable
    raise CompileError(f"HETERO: {reason}; no later device in {names} takes all of it")


def _device_properties(properties: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in properties.items() if k not in (PRIORITIES, TRACE_PATH)}
