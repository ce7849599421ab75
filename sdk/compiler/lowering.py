"""Compile a VPU subgraph (a Model whose every layer `analyze` matched) into a VpuProgram."""

from __future__ import annotations

import numpy as np
from kiln.compiler.emit import (
    AvgPoolSpec,
    ConvSpec,
    Int8Output,
    MaxPoolSpec,
    ProgramBuilder,
    View,
    avgpool_steps,
    conv_steps,
    maxpool_steps,
)
from kiln.compiler.fixed_point import quantize_multiplier
from kiln.compiler.layout import groups
from kiln.compiler.patterns import Match, analyze, fq_scale
from kiln.compiler.program import LayerRecord, TensorBinding, VpuProgram
from kiln.compiler.schedule import schedule_layer
from kiln.errors import CompileError
from kiln.hw import isa
from kiln.hw.config import VPUConfig
from kiln.ir import Model, Output

INT32_MAX = 2**31 - 1


def _image_shape(shape: tuple[int, ...], layout: str) -> tuple[int, int, int, int]:
    """Return the (n, c, h, w) image a tensor is stored as: itself, or rows of channels."""
    shape = tuple(int(d) for d in shape)
    if layout == "nchw":
        return shape
    return (1, shape[-1], int(np.prod(shape[:-1])), 1)


def _clip(match: Match) -> tuple[float, float] | None:
    act = match.activation
    if act is None:
        return None
    if act.type_name == "Relu":
        return (0.0, float("inf"))
    return (float(act.attrs["min"]), float(act.attrs["max"]))


def _int8_bounds(clip: tuple[float, float] | None, scale: float) -> tuple[int, int]:
    if clip is None:
        return -128, 127
    lo = -128 if not np.isfinite(clip[0]) else int(np.clip(np.round(clip[0] / scale), -128, 127))
    hi = 127 if not np.isfinite(clip[1]) else int(np.clip(np.round(clip[1] / scale), -128, 127))
    return lo, max(lo, hi)


class _Lowering:
    def __init__(self, model: Model, config: VPUConfig):
        self.model = model
        self.config = config
        self.dim = config.dim
        self.support = analyze(model, config)
        self.builder = ProgramBuilder(config)
        self.views: dict[tuple[Output, float], View] = {}
        self.acc_outputs: dict[Output, View] = {}
        self.inputs: list[TensorBinding] = []
        self.outputs: list[TensorBinding] = []

    def check_coverage(self) -> None:
        users = self.model.consumers()
        for node in self.model.ordered_nodes():
            if node.type_name in ("Parameter", "Result", "Constant"):
                continue
            if fq_scale(node) is not None and all(
                    u.type_name == "Result" or u.name in self.support.placement
                    for u, _ in users.get(node.output(0), [])):
                continue  # quantized here, read by a VPU layer of another subgraph
            if node.name not in self.support.placement:
                reason = self.support.reasons.get(node.name, "not a VPU layer")
                raise CompileError(f"node {node.name!r} ({node.type_name}) cannot run on the VPU: {reason}")

    def _nchw(self, port: Output) -> tuple[int, int, int, int]:
        return _image_shape(port.shape, self.layouts[port])

    def plan_layouts(self) -> None:
        """Give each tensor the layout its VPU layers use: images for convolutions and pooling,
        rows of channels for MatMuls (and for the rank-3 tensors of transformers)."""
        self.layouts: dict[Output, str] = {}
        for match in self.support.matches:
            layout = match.info["layout"]
            for port in [p for p, _ in match.inputs] + [match.output]:
                if self.layouts.setdefault(port, layout) != layout:
                    raise CompileError(f"node {match.anchor.name!r} ({match.anchor.type_name}): reads or "
                                       f"writes a tensor that another VPU layer lays out as {layout!r}")
        for result in self.model.results:
            port = result.inputs[0]
            if port.node.type_name == "FakeQuantize":
                source = port.node.inputs[0]
                self.layouts.setdefault(source, "nchw" if len(source.shape) == 4 else "rows")
                self.layouts.setdefault(port, self.layouts[source])

    def view(self, port: Output, scale: float) -> View:
        key = (port, scale)
        if key not in self.views:
            shape = self._nchw(port)
            n, c, h, w = shape
            # a row of slack: activation weights read whole dim-row tiles past a ragged end
            size = (n * groups(c, self.dim) * h * w + self.dim) * self.dim
            self.views[key] = View(self.builder.allocate(size), shape)
        return self.views[key]

    def acc_buffer(self, port: Output) -> View:
        if port not in self.acc_outputs:
            shape = self._nchw(port)
            n, c, h, w = shape
            address = self.builder.allocate(n * groups(c, self.dim) * h * w * self.dim * 4 + self.dim * 64)
            self.acc_outputs[port] = View(address, shape, element=4)
        return self.acc_outputs[port]

    def plan_buffers(self) -> None:
        producers = {m.output: m for m in self.support.matches}
        users = self.model.consumers()
        for match in self.support.matches:
            if match.kind == "maxpool":
                readers = [u for u, _ in users.get(match.output, [])]
                if all(u.type_name == "Result" for u in readers):
                    source = producers.get(match.inputs[0][0])
                    if source is None or source.kind == "maxpool":
                        raise CompileError(f"node {match.anchor.name!r} (MaxPool): its input and output "
                                           "both cross to another device, so no int8 scale is known")
                    match.info["int32"] = source
                    self.acc_buffer(match.inputs[0][0])
                    self.acc_buffer(match.output)
                    continue
                self.view(match.output, match.info["scale"])
            for port, scale in match.inputs:
                self.view(port, scale)
        for result in self.model.results:
            port = result.inputs[0]
            name = result.name
            if port in producers and (producers[port].kind != "maxpool" or "int32" in producers[port].info):
                self.acc_buffer(port)
            elif fq_scale(port.node) is not None:
                self.view(port.node.inputs[0], fq_scale(port.node))
            elif port in producers:
                self.view(port, producers[port].info["scale"])
            else:
                raise CompileError(f"output {name!r} is not produced by a VPU layer")
        for (port, scale), view in self.views.items():
            if port.node.type_name == "Parameter":
                self.inputs.append(TensorBinding(port.node.name, view.address, tuple(port.shape),
                                                 self.layouts[port], "int8", scale))

    def run(self) -> VpuProgram:
        self.check_coverage()
        self.plan_layouts()
        self.plan_buffers()
        buffers_end = self.builder.buffers_end
        self.builder.constants_base = buffers_end
        layers = []
        for match in self.support.matches:
            layers.append(self.lower(match))
        instructions: list[isa.Instruction] = []
        records = []
        barrier_row = self.config.acc_depth - 1
        for index, (record, steps) in enumerate(layers):
            record.first = len(instructions)
            instructions += schedule_layer(steps, after_barrier=index > 0,
                                           barrier_after=index + 1 < len(layers), barrier_row=barrier_row)
            record.last = len(instructions) - 1
            records.append(record)
        instructions.append(isa.Instruction("FINISH"))
        for result in self.model.results:
            self.outputs.append(self.output_binding(result))
        constants = np.frombuffer(bytes(self.builder.constants), np.uint8).copy()
        program_address = buffers_end + len(constants)
        program_address += -program_address % 64
        return VpuProgram(
            config=self.config, instructions=instructions, constants=constants,
            constants_address=buffers_end, program_address=program_address,
            dram_size=program_address + isa.INSTRUCTION_BYTES * len(instructions),
            inputs=self.inputs, outputs=self.outputs, layers=records)

    def output_binding(self, result) -> TensorBinding:
        port = result.inputs[0]
        name = result.name
        shape = tuple(int(d) for d in port.shape)
        if port in self.acc_outputs:
            match = next(m for m in self.support.matches if m.output == port)
            match = match.info.get("int32", match)
            return TensorBinding(name, self.acc_outputs[port].address, shape, self.layouts[port], "int32",
                                 channel_scale=[float(s) for s in match.info["acc_scale"]],
                                 clip=_clip(match))
        if port.node.type_name == "FakeQuantize":
            key = next(k for k in self.views if k[0] == port.node.inputs[0])
        else:
            key = next(k for k in self.views if k[0] == port)
        return TensorBinding(name, self.views[key].address, shape, self.layouts[key[0]], "int8", key[1])

    def int8_outputs(self, match: Match, acc_scale: np.ndarray) -> list[Int8Output]:
        outs = []
        clip = _clip(match)
        for (port, scale), view in self.views.items():
            if port != match.output:
                continue
            pairs = [quantize_multiplier(float(a) / scale) for a in acc_scale]
            lo, hi = _int8_bounds(clip, scale)
            outs.append(Int8Output(view, np.array([p[0] for p in pairs], np.int64),
                                   np.array([p[1] for p in pairs], np.int64), lo, hi))
        return outs

    def lower(self, match: Match):
        dim = self.dim
        names = [n.name for n in match.nodes]
        if match.kind == "maxpool":
            (port, scale), = match.inputs
            info = match.info
            if "int32" in info:
                source, output = self.acc_outputs[port], self.acc_outputs[match.output]
            else:
                source, output = self.views[(port, scale)], self.views[(match.output, scale)]
            spec = MaxPoolSpec(match.anchor.name, names, source, info["kernel"], info["stride"],
                               info["pads"], output, int32="int32" in info)
            steps = maxpool_steps(self.builder, spec)
            return LayerRecord(match.anchor.name, "maxpool", names, 0, 0, 0), steps
        if match.kind == "avgpool":
            (port, scale), = match.inputs
            info = match.info
            c_out = self._nchw(port)[1]
            acc_scale = np.full(c_out, scale / (info["kernel"][0] * info["kernel"][1]))
            match.info["acc_scale"] = acc_scale
            spec = AvgPoolSpec(match.anchor.name, names, self.views[(port, scale)], info["kernel"],
                               info["stride"], info["pads"], info["out"], self.int8_outputs(match, acc_scale),
                               self.acc_outputs.get(match.output))
            steps = avgpool_steps(self.builder, spec)
            return LayerRecord(match.anchor.name, "avgpool", names, 0, 0, 0), steps
        if "dynamic" in match.info:
            return self.lower_activation_matmul(match, names)
        sources, batch, height, width = [], None, None, None
        for port, scale in match.inputs:
            view = self.views[(port, scale)]
            batch, _, height, width = view.shape
            sources += [(view, g) for g in range(groups(view.shape[1], dim))]
        n_in = len(sources)
        info = match.info
        if match.kind == "conv":
            w = info["weights"]
            c_out = w.shape[0]
            weights = np.zeros((c_out, n_in * dim, *w.shape[2:]), np.int8)
            weights[:, :w.shape[1]] = w
            acc_scale = match.inputs[0][1] * info["w_scale"]
            kernel, stride, dilation, pads = info["kernel"], info["stride"], info["dilation"], info["pads"]
            out = info.get("out") or (height, width)
        else:  # add
            (_, s_a), (_, s_b) = match.inputs
            c_out = self._nchw(match.inputs[0][0])[1]
            top = max(s_a, s_b)
            d_a, d_b = round(127 * s_a / top), round(127 * s_b / top)
            half = n_in // 2
            weights = np.zeros((c_out, n_in * dim, 1, 1), np.int8)
            for c in range(c_out):
                weights[c, c, 0, 0] = d_a
                weights[c, half * dim + c, 0, 0] = d_b
            acc_scale = np.full(c_out, top / 127.0)
            kernel, stride, dilation, pads, out = (1, 1), (1, 1), (1, 1), (0, 0, 0, 0), (height, width)
        bias = np.zeros(c_out, np.int64)
        if match.bias is not None:
            bias = np.round(np.broadcast_to(match.bias, (c_out,)) / acc_scale)
            bias = np.clip(bias, -INT32_MAX, INT32_MAX).astype(np.int64)
        match.info["acc_scale"] = acc_scale
        spec = ConvSpec(match.anchor.name, match.kind, names, sources, batch, height, width,
                        tuple(kernel), tuple(stride), tuple(dilation), tuple(pads), tuple(out),
                        weights, bias, self.int8_outputs(match, acc_scale),
                        self.acc_outputs.get(match.output))
        steps, macs = conv_steps(self.builder, spec)
        return LayerRecord(match.anchor.name, match.kind, names, 0, 0, macs), steps


    def lower_activation_matmul(self, match: Match, names: list[str]):
        """Lower ``[..., M, K] x [..., K, N]``: one conv-shaped spec per batch index."""
        dim = self.dim
        batch, m, k = match.info["dynamic"]
        (a, s_a), (b, s_b) = match.inputs
        view_a, view_b = self.views[(a, s_a)], self.views[(b, s_b)]
        n = match.info["weights"].shape[0]
        acc_scale = np.full(n, s_a * s_b)
        match.info["acc_scale"] = acc_scale
        outputs = self.int8_outputs(match, acc_scale)
        acc_output = self.acc_outputs.get(match.output)
        bias = np.zeros(n, np.int64)
        if match.bias is not None:
            bias = np.clip(np.round(np.broadcast_to(match.bias, (n,)) / acc_scale), -INT32_MAX, INT32_MAX)
        steps, macs, tiles = [], 0, 0
        for index in range(batch):
            source = view_a.rows(index * m, m, dim)
            spec = ConvSpec(
                match.anchor.name, "conv", names, [(source, g) for g in range(groups(k, dim))], 1, m, 1,
                (1, 1), (1, 1), (1, 1), (0, 0, 0, 0), (m, 1),
                np.ones((n, groups(k, dim) * dim, 1, 1), np.int8), bias.astype(np.int64),
                [Int8Output(o.view.rows(index * m, m, dim), o.multiplier, o.shift, o.lo, o.hi)
                 for o in outputs],
                acc_output.rows(index * m, m, dim) if acc_output is not None else None,
                weight_source=view_b.rows(index * k, k, dim))
            part, part_macs = conv_steps(self.builder, spec, step_base=len(steps), tile_base=tiles)
            steps += part
            macs += part_macs
            tiles = max(s.tile for s in steps) + 1
        return LayerRecord(match.anchor.name, "matmul", names, 0, 0, macs), steps


def compile_subgraph(model: Model, config: VPUConfig | None = None) -> VpuProgram:
    """Lower every layer of ``model`` to one VPU program; raise CompileError naming a node it can't."""
    return _Lowering(model, config or VPUConfig()).run()
