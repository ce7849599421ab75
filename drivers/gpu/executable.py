"""The GPU executable: the device-neutral schedule as CUDA kernels over device buffer arenas.

Compilation (:class:`GpuProgram`): fold constants and group nodes into fused
steps (:mod:`kiln.drivers.schedule`, as on the CPU), compile a kernel for each
step the GPU runs, then place every value: a step with a kernel reads and
writes device memory; any other node runs its numpy reference on the host.
Where a value crosses between the two, one explicit transfer is inserted
(upload before its first device reader, download before its first host
reader), so host<->device copies happen only at these subgraph boundaries;
Reshape/Squeeze/Unsqueeze of a device value are views and cost nothing.

Device buffers: every value written on the device gets a slot of a buffer
arena, slots shared between values whose lifetimes do not overlap
(:func:`~kiln.drivers.schedule.plan_buffers`). An arena (slots, the
convolution workspace, a view per value) is allocated once and reused by every
inference; concurrent inferences each borrow their own. Weights are uploaded
once, at compile time.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from typing import Any

import numpy as np
from kiln.drivers.gpu.device import cuda, simulated
from kiln.drivers.gpu.gemm import TILE
from kiln.drivers.gpu.kernels import (
    VIEW_TYPES,
    StepKernel,
    anchor_supported,
    f32_static,
    node_kernel_supported,
)
from kiln.drivers.plugin import Executable
from kiln.drivers.schedule import Schedule, Step, build_schedule, nbytes, plan_buffers
from kiln.errors import CompileError, KilnError
from kiln.ir import Model, Node, Output, is_static
from kiln.ir.evaluate import run_node

SIMULATOR_LOCK = threading.Lock()
"""numba's CUDA simulator runs one kernel at a time: concurrent inferences take turns on it."""


def gpu_schedule(model: Model) -> Schedule:
    """Return the fused schedule of ``model`` with the GPU's anchors."""
    used = {p for n in model.ordered_nodes() for p in n.inputs}
    return build_schedule(model, lambda node, constants: anchor_supported(node, constants, used))


def is_view(step: Step) -> bool:
    """Return True for a step that only gives its f32 input another static shape."""
    node = step.node
    return step.kind == "node" and node.type_name in VIEW_TYPES and len(node.outputs) == 1 \
        and f32_static(node.inputs[0], node.output(0))


@dataclasses.dataclass
class Operation:
    """One entry of the device program.

    ``kind``: "upload" / "download" (``port`` between host and device), "kernel"
    (``kernel`` writes ``port``), "view" (``port`` is ``source`` reshaped, on the
    device) or "host" (``step`` runs its numpy reference on the host).
    """

    kind: str
    step: Step
    """The schedule step run, or for a transfer the step that reads (upload) or wrote (download) it."""
    port: Output | None = None
    kernel: StepKernel | None = None
    source: Output | None = None

    @property
    def label(self) -> str:
        if self.kind in ("upload", "download"):
            return f"{self.kind} {self.port.name}"
        return self.step.name


class GpuProgram:
    """A model compiled for static shapes: the operation list, device constants, buffer plan."""

    def __init__(self, model: Model, tile: int = TILE, host_fallback: bool = True):
        self.schedule = schedule = gpu_schedule(model)
        constants = schedule.constants
        on_host: set[Output] = set(schedule.inputs)
        on_device: set[Output] = set()
        self.device_constants: dict[Output, Any] = {}
        self.operations: list[Operation] = []
        host_nodes = []

        def need_device(port: Output, step: Step) -> None:
            if port in on_device:
                return
            if port in constants:
                self.device_constants[port] = cuda().to_device(
                    np.ascontiguousarray(constants[port], np.float32))
            else:
                self.operations.append(Operation("upload", step, port))
            on_device.add(port)

        producer: dict[Output, Step] = {}

        def need_host(port: Output) -> None:
            if port not in on_host and port not in constants:
                self.operations.append(Operation("download", producer[port], port))
                on_host.add(port)

        for step in schedule.steps:
            if step.kind in ("anchor", "chain") or node_kernel_supported(step.node, constants):
                kernel = StepKernel(step, constants, tile)
                for port in kernel.reads:
                    need_device(port, step)
                self.operations.append(Operation("kernel", step, step.outputs[0], kernel))
                on_device.add(step.outputs[0])
                producer[step.outputs[0]] = step
            elif is_view(step) and step.node.inputs[0] in on_device:
                self.operations.append(Operation("view", step, step.outputs[0], source=step.node.inputs[0]))
                on_device.add(step.outputs[0])
                producer[step.outputs[0]] = step
            else:
                host_nodes.append(step.node)
                for port in step.node.inputs:
                    need_host(port)
                self.operations.append(Operation("host", step))
                on_host.update(Output(step.node, i) for i in range(len(step.node.output_types)))
        if host_nodes and not host_fallback:
            listed = ", ".join(f"{n.name!r} ({n.type_name})" for n in host_nodes[:8])
            raise CompileError(f"GPU: {len(host_nodes)} node(s) have no GPU kernel and GPU_HOST_FALLBACK "
                               f"is off: {listed}")
        for port in schedule.outputs:
            need_host(port)
        self.host_nodes = host_nodes
        self._plan()

    def _plan(self) -> None:
        """Give every device-written value an arena slot, sharing slots by lifetime."""
        pseudo = []
        for op in self.operations:
            if op.kind in ("upload", "kernel"):
                reads = op.kernel.reads if op.kernel else []
                pseudo.append(Step("anchor", op.step.node, [], None, reads, [op.port]))
            elif op.kind == "view":
                pseudo.append(Step("node", op.step.node, [], None, [op.source], [op.port]))
            elif op.kind == "download":
                pseudo.append(Step("node", op.step.node, [], None, [op.port], []))
        self.plan = plan_buffers(Schedule(pseudo, {}, [], []), lambda s: s.kind == "anchor")
        self.workspace_elements = max([op.kernel.workspace_elements for op in self.operations
                                       if op.kernel is not None] + [1])

    @property
    def device_bytes(self) -> int:
        """Bytes of device memory one arena holds (slots and workspace; weights not counted)."""
        return self.plan.total_bytes + 4 * self.workspace_elements

    def summary(self) -> dict[str, int]:
        """Return counts of operations by kind, device values, and arena vs one-buffer-per-value bytes."""
        counts = {kind: sum(op.kind == kind for op in self.operations)
                  for kind in ("kernel", "view", "host", "upload", "download")}
        written = [op.port for op in self.operations if op.kind in ("upload", "kernel")]
        return {**counts, "device_values": len(written), "slots": len(self.plan.slot_bytes),
                "arena_bytes": self.plan.total_bytes, "workspace_bytes": 4 * self.workspace_elements,
                "unshared_bytes": sum(nbytes(p) for p in written)}


class DeviceArena:
    """The device buffers of one in-flight inference, with a device view of every device value."""

    def __init__(self, program: GpuProgram):
        module = cuda()
        self.slots = [module.device_array(max(n // 4, 1), np.float32) for n in program.plan.slot_bytes]
        self.workspace = module.device_array(program.workspace_elements, np.float32)
        self.views: dict[Output, Any] = dict(program.device_constants)
        for op in program.operations:
            if op.kind in ("upload", "kernel"):
                shape = tuple(int(d) for d in op.port.shape)
                size = int(np.prod(shape, dtype=np.int64))
                self.views[op.port] = self.slots[program.plan.slot_of[op.port]][:size].reshape(shape)
            elif op.kind == "view":
                self.views[op.port] = self.views[op.source].reshape(tuple(int(d) for d in op.port.shape))


class GpuExecutable(Executable):
    """Runs a model with CUDA kernels; thread-safe, one device arena per concurrent inference.

    Models with dynamic input shapes are compiled once per distinct input shape, on first use.
    """

    def __init__(self, model: Model, tile: int = TILE, host_fallback: bool = True, profiling: bool = False):
        self.model = model
        self.tile = tile
        self.host_fallback = host_fallback
        self.profiling = profiling
        self._programs: dict[tuple, GpuProgram] = {}
        self._arenas: dict[tuple, list[DeviceArena]] = {}
        self._lock = threading.Lock()
        self._local = threading.local()
        if all(is_static(p.attrs["shape"]) for p in model.parameters):
            self.program_for([tuple(p.attrs["shape"]) for p in model.parameters])

    def program_for(self, shapes: list[tuple[int, ...]]) -> GpuProgram:
        """Return the program compiled for these input shapes (compiling it on first use)."""
        key = tuple(shapes)
        with self._lock:
            program = self._programs.get(key)
        if program is not None:
            return program
        model = self.model
        if any(tuple(p.attrs["shape"] or ()) != s for p, s in zip(model.parameters, shapes)):
            model = model.clone().reshape({p.name: s for p, s in zip(model.parameters, shapes)})
        program = GpuProgram(model, self.tile, self.host_fallback)
        with self._lock:
            return self._programs.setdefault(key, program)

    def infer(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        key = tuple(tuple(x.shape) for x in inputs)
        program = self.program_for(list(key))
        with self._lock:
            pool = self._arenas.setdefault(key, [])
            arena = pool.pop() if pool else None
        if arena is None:
            arena = DeviceArena(program)
        try:
            if simulated():
                with SIMULATOR_LOCK:
                    return self._run(program, arena, inputs)
            return self._run(program, arena, inputs)
        finally:
            with self._lock:
                self._arenas[key].append(arena)

    def _run(self, program: GpuProgram, arena: DeviceArena, inputs: list[np.ndarray]) -> list[np.ndarray]:
        host: dict[Output, np.ndarray] = dict(program.schedule.constants)
        host.update(zip(program.schedule.inputs, inputs))
        views = arena.views
        profile = [] if self.profiling else None
        module = cuda()
        for op in program.operations:
            start = time.perf_counter() if profile is not None else 0.0
            try:
                if op.kind == "kernel":
                    kernel = op.kernel
                    kernel.run(views[op.port], [views[p] for p in kernel.data],
                               [views[p] for p in kernel.ports], arena.workspace)
                elif op.kind == "upload":
                    views[op.port].copy_to_device(np.ascontiguousarray(host[op.port], np.float32))
                elif op.kind == "download":
                    host[op.port] = views[op.port].copy_to_host()
                elif op.kind == "host":
                    node: Node = op.step.node
                    values = run_node(node, [host[p] for p in node.inputs])
                    host.update((Output(node, i), v) for i, v in enumerate(values))
            except KilnError:
                raise
            except Exception as error:
                raise KilnError(f"GPU {op.kind} {op.label!r} ({op.step.type_name}) failed: "
                                f"{type(error).__name__}: {error}") from error
            if profile is not None and op.kind != "view":
                module.synchronize()
                profile.append((op, start, time.perf_counter() - start))
        if profile is not None:
            self._local.profile = profile
        shared = {id(v) for v in inputs} | {id(v) for v in program.schedule.constants.values()}
        outputs = []
        for port in program.schedule.outputs:
            value = host[port]
            if id(value) in shared or not value.flags.owndata:
                value = np.array(value, copy=True)  # never hand out an input or a constant
            outputs.append(value)
        return outputs

    def profiling_info(self) -> list[dict[str, Any]]:
        """Return per-operation counters of this thread's last profiled inference (empty if off)."""
        rows = []
        for op, _, seconds in getattr(self._local, "profile", None) or []:
            exec_type = op.kernel.exec_type if op.kernel else {
                "upload": "host_to_device", "download": "device_to_host", "host": "host_reference"}[op.kind]
            rows.append({"node_name": op.label, "node_type": op.step.type_name, "exec_type": exec_type,
                         "real_time_ms": seconds * 1e3, "fused_nodes": [n.name for n in op.step.nodes],
                         "device": "CPU" if op.kind == "host" else "GPU", "status": "EXECUTED"})
        return rows

    def write_trace(self, path: str) -> None:
        """Write this thread's last profiled inference as Perfetto/Chrome trace-event JSON.

        One track each for kernels, host<->device copies and host reference steps;
        times in microseconds from the first operation. Needs ``PERF_COUNT=True``.
        """
        profile = getattr(self._local, "profile", None)
        if not profile:
            raise KilnError("GPU: no profiled inference to trace; compile with PERF_COUNT=True and run once")
        origin = profile[0][1]
        tracks = {"kernel": 1, "upload": 2, "download": 2, "host": 3}
        events = [{"ph": "M", "name": "thread_name", "pid": 1, "tid": tid, "args": {"name": name}}
                  for name, tid in (("GPU kernels", 1), ("host<->device copies", 2), ("host reference", 3))]
        for op, start, seconds in profile:
            events.append({"ph": "X", "pid": 1, "tid": tracks[op.kind], "name": op.label,
                           "ts": (start - origin) * 1e6, "dur": seconds * 1e6,
                           "args": {"type": op.step.type_name,
                                    "exec_type": op.kernel.exec_type if op.kernel else op.kind,
                                    "fused_nodes": [n.name for n in op.step.nodes]}})
        with open(path, "w") as f:
            json.dump({"traceEvents": events, "displayTimeUnit": "ms"}, f)

    def describe(self) -> list[dict[str, Any]]:
        """Return the operations of every compiled program: kind, step, kernel, fused nodes."""
        rows = []
        for program in self._programs.values():
            for op in program.operations:
                rows.append({"operation": op.kind, "node_name": op.label, "node_type": op.step.type_name,
                             "exec_type": op.kernel.exec_type if op.kernel else op.kind,
                             "fused_nodes": [n.name for n in op.step.nodes]})
        return rows
