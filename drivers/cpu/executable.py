"""The CPU executable: a schedule lowered to kernels, run over per-request buffer arenas.

Compilation (:class:`CpuProgram`): fold constants, group nodes into fused steps
(:mod:`kiln.drivers.schedule`), pick a kernel for each step, plan one arena of
reusable buffers. Execution: each concurrent inference borrows an arena from a
pool (so requests never share a buffer), runs the kernels in order, and returns
freshly allocated output arrays.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import numba
import numpy as np
from kiln.drivers.cpu.convolution import Convolution
from kiln.drivers.cpu.elementwise import BoundChain
from kiln.drivers.cpu.gemm import set_blas_threads
from kiln.drivers.cpu.matmul import MatMul
from kiln.drivers.cpu.movement import Transpose
from kiln.drivers.cpu.normalization import RowNormalization
from kiln.drivers.cpu.pooling import Pooling
from kiln.drivers.cpu.reduction import KINDS as REDUCTIONS
from kiln.drivers.cpu.reduction import Reduction
from kiln.drivers.fusion import Chain, ChainOp
from kiln.drivers.plugin import Executable
from kiln.drivers.schedule import Schedule, Step, build_schedule, concat_in_place, plan_buffers
from kiln.errors import CompileError, KilnError
from kiln.ir import ElementType, Model, Node, Output, is_static
from kiln.ir.evaluate import run_node

F32 = ElementType.f32

RESHAPES = ("Reshape", "Squeeze", "Unsqueeze")
"""Ops that only relabel the shape (row-major order kept): run as a reshape to the static output shape."""


def _f32_static(*ports: Output) -> bool:
    return all(p.element_type == F32 and is_static(p.shape) for p in ports)


def anchor_kernel(node: Node, constants: dict, used: set[Output]):
    """Return the CPU kernel object for ``node`` if it has a fast buffer-writing kernel, else None."""
    try:
        kind = node.type_name
        if any(Output(node, i) in used for i in range(1, len(node.output_types))):
            return None
        if kind in ("Convolution", "GroupConvolution"):
            weights = constants.get(node.inputs[1])
            if weights is None or not _f32_static(node.inputs[0], node.output(0)) \
                    or len(node.inputs[0].shape) != 4:
                return None
            return Convolution(node, weights)
        if kind == "MatMul" and _f32_static(*node.inputs, node.output(0)):
            return MatMul(node, constants)
        if kind in ("MaxPool", "AvgPool") and _f32_static(node.inputs[0], node.output(0)) \
                and len(node.inputs[0].shape) == 4:
            return Pooling(node)
        if kind in ("Softmax", "MVN") and _f32_static(node.inputs[0], node.output(0)):
            return RowNormalization(node, constants)
        if kind == "Transpose" and _f32_static(node.inputs[0], node.output(0)):
            return Transpose(node, constants)
        if kind in REDUCTIONS and _f32_static(node.inputs[0], node.output(0)):
            return Reduction(node, constants)
    except (CompileError, KeyError, TypeError, ValueError):
        return None
    return None


def _per_channel_constant(chain: Chain, index: int, channels: int) -> np.ndarray | None:
    """Return constant ``index`` as a [channels] vector if it broadcasts as [1, C, 1, 1]; else None."""
    if index <= 0 or isinstance(chain.operands[index], Output):
        return None
    value = np.asarray(chain.operands[index], np.float32)
    if value.ndim > 4:
        return None
    padded = value.reshape((1,) * (4 - value.ndim) + value.shape)
    if padded.shape[0] != 1 or padded.shape[2:] != (1, 1) or padded.shape[1] not in (1, channels):
        return None
    return np.broadcast_to(padded.reshape(-1), (channels,))


def _drop_leading_ops(chain: Chain, count: int) -> Chain | None | bool:
    """Return ``chain`` without its first ``count`` ops, whose result the anchor output (operand 0) becomes.

    None when no op is left; False when a later op reads operand 0 or an earlier dropped result.
    """
    ops = []
    for op in chain.ops[count:]:
        args = []
        for a in op.args:
            if a == 0 or (a < 0 and ~a < count - 1):
                return False
            args.append(0 if a == ~(count - 1) else (a + count if a < 0 else a))
        ops.append(ChainOp(op.name, tuple(args), op.params))
    return Chain(chain.operands, ops, chain.shape) if ops else None


def fold_channel_scale(step: Step, kernel) -> None:
    """Fold an epilogue's leading per-output-channel multiply into the convolution weights."""
    chain = step.chain
    if not isinstance(kernel, Convolution) or chain is None or not chain.ops:
        return
    first = chain.ops[0]
    if first.name != "mul" or 0 not in first.args:
        return
    other = first.args[1] if first.args[0] == 0 else first.args[0]
    scale = _per_channel_constant(chain, other, kernel.g.c_out)
    rest = _drop_leading_ops(chain, 1)
    if scale is None or rest is False:
        return
    kernel.scale_weights(scale)
    step.chain = rest


def fold_bias_clamp(step: Step, kernel) -> None:
    """Fold a depthwise convolution's leading per-channel bias Add (and a Relu/Clamp on it) into it."""
    chain = step.chain
    if not isinstance(kernel, Convolution) or not kernel.depthwise or chain is None or not chain.ops:
        return
    first = chain.ops[0]
    if first.name != "add" or 0 not in first.args or len(first.args) != 2:
        return
    other = first.args[1] if first.args[0] == 0 else first.args[0]
    bias = _per_channel_constant(chain, other, kernel.g.c_out)
    if bias is None:
        return
    clamp, count = None, 1
    if len(chain.ops) > 1 and chain.ops[1].args == (-1,):
        second = chain.ops[1]
        if second.name == "relu":
            clamp, count = (0.0, float("inf")), 2
        elif second.name == "clamp":
            clamp, count = (float(second.params[0]), float(second.params[1])), 2
    rest = _drop_leading_ops(chain, count)
    if rest is False and count == 2:
        clamp, count = None, 1
        rest = _drop_leading_ops(chain, 1)
    if rest is False:
        return
    kernel.fuse_bias_clamp(bias, clamp)
    step.chain = rest


class CpuStep:
    """One executable step of a program: ``run(env, arena)`` executes it.

    ``bind(env, arena)``, when given, returns a function ``fn(env)`` that does the same
    with every view, address and argument resolved for this arena and for the current
    values of the slots ``keys``, or None when it cannot (an input would first be
    copied). The executable reuses ``fn`` for as long as those slots hold the same
    arrays, which they do from one inference to the next for everything that lives in
    the arena.
    """

    def __init__(self, step: Step, kind: str, run: Callable, bind: Callable | None = None,
                 keys: tuple[int, ...] = ()):
        self.step = step
        self.exec_type = kind
        self.run = run
        self.bind = bind
        self.keys = keys


def _bound(calls: list[tuple], out: np.ndarray, out_slot: int) -> Callable:
    """Return ``fn(env)`` making ``calls`` (``(fn, args)`` pairs) and storing ``out`` in ``out_slot``."""
    if len(calls) == 1:
        (kernel, args), = calls

        def run_one(env):
            kernel(*args)
            env[out_slot] = out
        return run_one

    def run_all(env):
        for kernel, args in calls:
            kernel(*args)
        env[out_slot] = out
    return run_all


class CpuProgram:
    """A model compiled for static shapes: kernels in order plus the buffer plan."""

    def __init__(self, model: Model):
        used = {p for n in model.ordered_nodes() for p in n.inputs}
        kernels: dict[int, Any] = {}

        def is_anchor(node: Node, constants: dict) -> bool:
            kernel = anchor_kernel(node, constants, used)
            if kernel is not None:
                kernels[id(node)] = kernel
            return kernel is not None

        self.schedule: Schedule = build_schedule(model, is_anchor)
        for step in self.schedule.steps:
            if step.kind == "anchor":
                fold_channel_scale(step, kernels[id(step.node)])
                fold_bias_clamp(step, kernels[id(step.node)])
        owns = lambda s: s.kind != "node"  # noqa: E731
        self.aliases = concat_in_place(self.schedule, owns)
        self.plan = plan_buffers(self.schedule, owns, aliases=self.aliases)
        self.index: dict[Output, int] = {}
        self.env_template: list[Any] = []
        for port, value in self.schedule.constants.items():
            self._slot(port)
            self.env_template[self.index[port]] = value
        self.input_slots = [self._slot(p) for p in self.schedule.inputs]
        self.workspace_bytes = 0
        self.steps: list[CpuStep] = []
        for step in self.schedule.steps:
            self.steps.append(self._lower(step, kernels.get(id(step.node))))
        self.output_slots = [self._slot(p) for p in self.schedule.outputs]
        self.constant_ids = {id(v) for v in self.schedule.constants.values()}

    def _slot(self, port: Output) -> int:
        if port not in self.index:
            self.index[port] = len(self.env_template)
            self.env_template.append(None)
        return self.index[port]

    def _lower(self, step: Step, kernel) -> CpuStep:
        writes = [self._slot(p) for p in step.outputs]
        if step.kind == "node" and step.outputs and step.outputs[0] in self.plan.slot_of \
                and step.node.type_name == "Concat":
            target_slot, target_shape = writes[0], tuple(step.outputs[0].shape)
            size = int(np.prod(target_shape, dtype=np.int64))
            slot = self.plan.slot_of[step.outputs[0]]

            def run_concat(env, arena):  # the producers already wrote their parts in place
                env[target_slot] = arena.view(slot, target_shape, size)

            def bind_concat(env, arena):
                view = arena.view(slot, target_shape, size)

                def concat(env):
                    env[target_slot] = view
                return concat
            return CpuStep(step, "concat_in_place", run_concat, bind_concat)
        if step.kind == "node" and step.node.type_name in RESHAPES and is_static(step.outputs[0].shape) \
                and len(step.node.output_types) == 1:
            x_slot, shape = self._slot(step.node.inputs[0]), tuple(step.outputs[0].shape)

            def run_reshape(env, arena):  # the output shape is static: no need to evaluate the target
                env[writes[0]] = np.reshape(env[x_slot], shape)

            def bind_reshape(env, arena):
                x = env[x_slot]
                view = np.reshape(x, shape)
                if not np.may_share_memory(view, x):  # a copy (a view of one): made again each time
                    return None

                def reshape(env):
                    env[writes[0]] = view
                return reshape
            return CpuStep(step, "reshape", run_reshape, bind_reshape, (x_slot,))
        if step.kind == "node":
            node = step.node
            ins = [self._slot(p) for p in node.inputs]
            outs = [self._slot(Output(node, i)) for i in range(len(node.output_types))]

            def run_reference(env, arena, node=node, ins=ins, outs=outs):
                values = run_node(node, [env[i] for i in ins])
                for i, value in zip(outs, values):
                    env[i] = value
            return CpuStep(step, "reference", run_reference)
        out_port = step.outputs[0]
        out_slot = writes[0]
        shape, buffer = tuple(out_port.shape), self.plan.slot_of.get(out_port)
        offset = 0
        if out_port in self.aliases:
            target, offset_bytes = self.aliases[out_port]
            buffer, offset = self.plan.slot_of[target], offset_bytes // 4
        epilogue = BoundChain(step.chain) if step.chain is not None else None
        chain_slots = []
        if step.chain is not None:
            for operand in step.chain.operands:
                if isinstance(operand, Output):
                    chain_slots.append(-1 if step.kind == "anchor" and operand == step.node.output(0)
                                       else self._slot(operand))
        elements = int(np.prod(shape, dtype=np.int64))

        def output(arena):
            if buffer is None:
                return np.empty(shape, np.float32)
            return arena.view(buffer, shape, elements, offset)

        def ports(env, out):
            return [out if s < 0 else env[s] for s in chain_slots]

        if step.kind == "chain":
            def run_chain(env, arena):
                out = output(arena)
                epilogue.run(out, ports(env, out))
                env[out_slot] = out

            def bind_chain(env, arena):
                if buffer is None:  # a fresh array each time (a model output): nothing to bind
                    return None
                out = output(arena)
                calls = epilogue.calls(out, ports(env, out))
                return None if calls is None else _bound(calls, out, out_slot)
            return CpuStep(step, "numba_fused_elementwise", run_chain, bind_chain,
                           tuple(s for s in chain_slots if s >= 0))
        x_slot = self._slot(step.node.inputs[0])
        operand_slots = [x_slot]
        if isinstance(kernel, Convolution):
            self.workspace_bytes = max(self.workspace_bytes, kernel.workspace_bytes)
            exec_type = "numba_depthwise" if kernel.depthwise else (
                "sgemm_1x1" if kernel.pointwise else "shifted_sgemm" if kernel.shifted else "im2col_sgemm")

            def compute(env, out, arena):
                kernel.run(env[x_slot], out, arena.workspace, arena.threads)

            def kernel_calls(env, out, arena):
                return kernel.calls(env[x_slot], out, arena.workspace, arena.threads)
        elif isinstance(kernel, MatMul):
            exec_type = "sgemm"
            b_slot = self._slot(step.node.inputs[1])
            operand_slots.append(b_slot)

            def compute(env, out, arena):
                kernel.run(env[x_slot], env[b_slot], out, arena.threads)

            def kernel_calls(env, out, arena):
                return kernel.calls(env[x_slot], env[b_slot], out, arena.threads)
        else:
            exec_type = f"numba_{step.node.type_name.lower()}"

            def compute(env, out, arena):
                kernel.run(env[x_slot], out)

            def kernel_calls(env, out, arena):
                return kernel.calls(env[x_slot], out)

        def run_anchor(env, arena):
            out = output(arena)
            compute(env, out, arena)
            if epilogue is not None:
                epilogue.run(out, ports(env, out))
            env[out_slot] = out

        def bind_anchor(env, arena):
            if buffer is None:
                return None
            out = output(arena)
            calls = kernel_calls(env, out, arena)
            if calls is not None and epilogue is not None:
                tail = epilogue.calls(out, ports(env, out))
                calls = None if tail is None else calls + tail
            return None if calls is None else _bound(calls, out, out_slot)
        keys = tuple(dict.fromkeys(operand_slots + [s for s in chain_slots if s >= 0]))
        return CpuStep(step, exec_type, run_anchor, bind_anchor, keys)


class Arena:
    """The reusable buffers of one in-flight inference: planned slots, conv scratch, bound steps."""

    def __init__(self, program: CpuProgram, threads: int):
        self.threads = threads
        self.slots = [np.empty(n // 4, np.float32) for n in program.plan.slot_bytes]
        self.workspace = np.empty(max(program.workspace_bytes // 4, 1), np.float32)
        self.bound: list[tuple | None] = [None] * len(program.steps)
        """Per step: (the arrays its ``keys`` held, the bound function or None) from the last bind."""
        self._views: dict[tuple, np.ndarray] = {}

    def view(self, slot: int, shape: tuple[int, ...], size: int, offset: int = 0) -> np.ndarray:
        """Return ``size`` elements of slot ``slot`` from element ``offset`` on, as ``shape``.

        The same array object every time, so steps bound to it stay bound.
        """
        key = (slot, shape, offset)
        view = self._views.get(key)
        if view is None:
            view = self._views[key] = self.slots[slot][offset:offset + size].reshape(shape)
        return view


class CpuExecutable(Executable):
    """Runs a model with fused CPU kernels; thread-safe, one arena per concurrent inference.

    Models with dynamic input shapes are compiled once per distinct input shape,
    on first use. ``threads`` is the number of threads one inference uses.
    ``clock`` times profiled steps by wall time ("wall") or by the calling thread's
    CPU time ("thread": insensitive to other load, exact with one thread).
    """

    exports_optimized_model = True
    """``model`` is the optimized graph: an exported blob may store it and skip the passes."""

    def __init__(self, model: Model, threads: int = 0, profiling: bool = False, clock: str = "wall"):
        self.model = model
        self.threads = threads or numba.config.NUMBA_NUM_THREADS
        self.profiling = profiling
        if clock not in ("wall", "thread"):
            raise CompileError(f"CPU: profiling clock {clock!r} is not 'wall' or 'thread'")
        self.clock = time.perf_counter if clock == "wall" else time.thread_time
        self._programs: dict[tuple, CpuProgram] = {}
        self._arenas: dict[tuple, list[Arena]] = {}
        self._lock = threading.Lock()
        self._local = threading.local()
        if all(is_static(p.attrs["shape"]) for p in model.parameters):
            self.program_for([tuple(p.attrs["shape"]) for p in model.parameters])

    def program_for(self, shapes: list[tuple[int, ...]]) -> CpuProgram:
        """Return the program compiled for these input shapes (compiling it on first use)."""
        key = tuple(shapes)
        with self._lock:
            program = self._programs.get(key)
        if program is not None:
            return program
        model = self.model
        if any(tuple(p.attrs["shape"] or ()) != s for p, s in zip(model.parameters, shapes)):
            model = model.clone().reshape({p.name: s for p, s in zip(model.parameters, shapes)})
        program = CpuProgram(model)
        with self._lock:
            return self._programs.setdefault(key, program)

    def infer(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        program = self.program_for([tuple(x.shape) for x in inputs])
        key = tuple(tuple(x.shape) for x in inputs)
        with self._lock:
            pool = self._arenas.setdefault(key, [])
            arena = pool.pop() if pool else None
        if arena is None:
            threads = min(self.threads, numba.config.NUMBA_NUM_THREADS)
            arena = Arena(program, threads)
        previous = set_blas_threads(1)
        try:
            return self._run(program, arena, inputs)
        finally:
            if previous is not None:
                set_blas_threads(previous)
            with self._lock:
                self._arenas[key].append(arena)

    def _run(self, program: CpuProgram, arena: Arena, inputs: list[np.ndarray]) -> list[np.ndarray]:
        env = list(program.env_template)
        numba.set_num_threads(arena.threads)  # per calling thread: every parallel loop of this inference
        for slot, value in zip(program.input_slots, inputs):
            env[slot] = value
        profile = [] if self.profiling else None
        bound = arena.bound
        for index, step in enumerate(program.steps):
            try:
                if profile is not None:
                    start = self.clock()
                fn = None
                if step.bind is not None:
                    entry = bound[index]
                    if entry is None or any(env[s] is not v for s, v in zip(step.keys, entry[0])):
                        entry = bound[index] = (tuple(env[s] for s in step.keys), step.bind(env, arena))
                    fn = entry[1]
                if fn is None:
                    step.run(env, arena)
                else:
                    fn(env)
                if profile is not None:
                    profile.append((step, self.clock() - start))
            except KilnError:
                raise
            except Exception as error:
                raise KilnError(f"CPU step {step.step.name!r} ({step.step.type_name}, {step.exec_type}) "
                                f"failed: {type(error).__name__}: {error}") from error
        if profile is not None:
            self._local.profile = profile
        outputs = []
        shared = {id(v) for v in inputs} | program.constant_ids
        for slot in program.output_slots:
            value = env[slot]
            if not isinstance(value, np.ndarray) or not value.flags.owndata or id(value) in shared:
                value = np.array(value, copy=True)  # never hand out an arena buffer, input or constant
            outputs.append(value)
        return outputs

    def profiling_info(self) -> list[dict[str, Any]]:
        """Return per-step counters of this thread's last profiled inference (empty if profiling is off)."""
        profile = getattr(self._local, "profile", None) or []
        return [{
            "node_name": step.step.name, "node_type": step.step.type_name, "exec_type": step.exec_type,
            "real_time_ms": seconds * 1e3, "fused_nodes": [n.name for n in step.step.nodes],
            "device": "CPU", "status": "EXECUTED",
        } for step, seconds in profile]

    def describe(self) -> list[dict[str, Any]]:
        """Return the schedule of every compiled program: step, kernel, fused nodes."""
        rows = []
        for program in self._programs.values():
            for step in program.steps:
                rows.append({"node_name": step.step.name, "node_type": step.step.type_name,
                             "exec_type": step.exec_type, "fused_nodes": [n.name for n in step.step.nodes]})
        return rows
