"""Find what the VPU can run in a quantized model, and why it can't run the rest.

The VPU runs int8 layers written in the quantized-IR form of docs/quantization.md:

* ``conv``: FakeQuantize(x) -> Convolution / GroupConvolution / MatMul with int8
  weights (Constant i8 -> Convert -> Multiply scale), then optionally a per-channel
  bias Add and a Relu or Clamp;
* ``add``: Add(FakeQuantize(a), FakeQuantize(b)) (a residual join), optionally Relu;
* ``avgpool``: AvgPool or spatial ReduceMean of FakeQuantize(x);
* ``maxpool``: MaxPool whose consumers all re-quantize with one FakeQuantize.

Each match lists the IR nodes it covers; everything else gets a reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from kiln.compiler.emit import MAX_PAD, MAX_WINDOW, MAX_XY
from kiln.hw.config import VPUConfig
from kiln.ir import Model, Node, Output
from kiln.ir.ops.pooling import window_geometry

ANCHORS = ("Convolution", "GroupConvolution", "MatMul")
ACTIVATIONS = ("Relu", "Clamp")


@dataclass
class Match:
    """One VPU layer found in the graph."""

    kind: str  # conv | add | avgpool | maxpool
    anchor: Node
    nodes: list[Node]
    inputs: list[tuple[Output, float]]  # (float tensor, int8 scale it is read at)
    output: Output  # the float tensor the layer produces
    activation: Node | None = None
    bias: np.ndarray | None = None
    info: dict = field(default_factory=dict)


@dataclass
class VpuSupport:
    """The matches, which node each covers, and a reason for every other node."""

    matches: list[Match]
    placement: dict[str, int]
    reasons: dict[str, str]


def fq_scale(node: Node) -> float | None:
    """Return s when ``node`` is a symmetric int8 FakeQuantize ([-128 s, 127 s]), else None."""
    if node.type_name != "FakeQuantize" or int(node.attrs.get("levels", 0)) != 256:
        return None
    ranges = [node.input_value(i) for i in range(1, 5)]
    if any(r is None or np.asarray(r).size != 1 for r in ranges):
        return None
    il, ih, ol, oh = (float(np.asarray(r).reshape(())) for r in ranges)
    if ih <= 0 or il != ol or ih != oh or not np.isclose(il, -128.0 / 127.0 * ih, rtol=1e-5):
        return None
    return ih / 127.0


def quantized_weights(port: Output) -> tuple[np.ndarray, np.ndarray, list[Node]] | None:
    """Return (int8 weights, f32 scale, nodes) for ``Multiply(Convert(Constant i8), Constant)``."""
    mul = port.node
    if mul.type_name != "Multiply":
        return None
    for conv_port, scale_port in (mul.inputs, mul.inputs[::-1]):
        convert, scale = conv_port.node, scale_port.constant_value()
        if convert.type_name != "Convert" or scale is None:
            continue
        raw = convert.input_value(0)
        if raw is None or raw.dtype != np.int8:
            continue
        return raw, np.asarray(scale, np.float64), [mul, convert, convert.inputs[0].node,
                                                    scale_port.node]
    return None


def _static(port: Output) -> bool:
    return port.shape is not None and all(d is not None for d in port.shape)


class _Analyzer:
    def __init__(self, model: Model, config: VPUConfig):
        self.model = model
        self.config = config
        self.users = model.consumers()
        self.matches: list[Match] = []
        self.reasons: dict[str, str] = {}

    def only_user(self, port: Output) -> Node | None:
        users = self.users.get(port, [])
        return users[0][0] if len(users) == 1 else None

    def run(self) -> VpuSupport:
        order = self.model.ordered_nodes()
        for node in order:
            kind = node.type_name
            try:
                if kind in ANCHORS:
                    self._anchor(node)
                elif kind == "Add":
                    self._add(node)
                elif kind in ("AvgPool", "ReduceMean"):
                    self._avgpool(node)
                elif kind == "MaxPool":
                    self._maxpool(node)
            except _Reject as reject:
                self.reasons[node.name] = str(reject)
        placement: dict[str, int] = {}
        for index, match in enumerate(self.matches):
            for node in match.nodes:
                placement.setdefault(node.name, index)
            for port, _ in match.inputs:
                fq = self._fq_between(match, port)
                if fq is not None:
                    placement.setdefault(fq.name, index)
                    for p in fq.inputs[1:]:
                        placement.setdefault(p.node.name, index)
        for name in placement:
            self.reasons.pop(name, None)
        for node in order:
            if node.name in placement or node.name in self.reasons:
                continue
            if node.type_name in ("Parameter", "Result", "Constant"):
                continue
            if node.type_name == "FakeQuantize":
                self.reasons[node.name] = "FakeQuantize feeds no VPU layer"
            else:
                self.reasons[node.name] = f"the VPU has no {node.type_name} unit"
        return VpuSupport(self.matches, placement, self.reasons)

    def _fq_between(self, match: Match, port: Output) -> Node | None:
        for node in match.anchor.inputs:
            if node.node.type_name == "FakeQuantize" and node.node.inputs[0] == port:
                return node.node
        return None

    def _quantized_input(self, port: Output, what: str) -> tuple[Output, float]:
        scale = fq_scale(port.node)
        if scale is None:
            raise _Reject(f"{what} is not int8-quantized (no symmetric 256-level FakeQuantize)")
        source = port.node.inputs[0]
        while fq_scale(source.node) is not None and np.isclose(fq_scale(source.node), scale, rtol=1e-6):
            source = source.node.inputs[0]  # a FakeQuantize applied twice is applied once
        if not _static(source):
            raise _Reject(f"{what} has a dynamic shape {source.shape}")
        return source, scale

    def _epilogue(self, match: Match, per_channel: int, channel_axis: int) -> None:
        port = match.output
        user = self.only_user(port)
        if user is not None and user.type_name == "Add" and match.kind == "conv":
            other = [p for p in user.inputs if p != port]
            value = other[0].constant_value() if other else None
            if value is not None and value.size == per_channel and (
                    value.ndim == 0 or value.shape[channel_axis if value.ndim > 1 else -1] == per_channel):
                match.bias = np.asarray(value, np.float64).reshape(-1)
                match.nodes += [user, other[0].node]
                port = user.output(0)
                user = self.only_user(port)
        if user is not None and user.type_name in ACTIVATIONS:
            match.activation = user
            match.nodes.append(user)
            port = user.output(0)
        match.output = port

    def _anchor(self, node: Node) -> None:
        x, s_x = self._quantized_input(node.inputs[0], "the input activation")
        weights = quantized_weights(node.inputs[1])
        if weights is None and node.type_name == "MatMul" and fq_scale(node.inputs[1].node) is not None:
            self._activation_matmul(node, x, s_x)
            return
        if weights is None:
            raise _Reject("weights are not int8-quantized constants (Constant i8 -> Convert -> Multiply)")
        wq, w_scale, w_nodes = weights
        if node.type_name == "MatMul":
            info = self._matmul(node, x, wq, w_scale)
        else:
            info = self._conv(node, x, wq, w_scale)
        match = Match("conv", node, [node, *w_nodes], [(x, s_x)], node.output(0), info=info)
        self._epilogue(match, info["weights"].shape[0], 1 if node.type_name != "MatMul" else -1)
        self.matches.append(match)

    def _conv(self, node, x, wq, w_scale) -> dict:
        if len(x.shape) != 4:
            raise _Reject(f"only 2-D convolutions run on the VPU (input rank {len(x.shape)})")
        if node.type_name == "GroupConvolution":
            g, o_g, i_g, kh, kw = wq.shape
            dense = np.zeros((g * o_g, g * i_g, kh, kw), np.int8)
            for k in range(g):
                dense[k * o_g:(k + 1) * o_g, k * i_g:(k + 1) * i_g] = wq[k]
            scale = np.broadcast_to(w_scale, (g, o_g, 1, 1, 1)).reshape(-1)
        else:
            dense = wq
            scale = np.broadcast_to(w_scale, (wq.shape[0], 1, 1, 1)).reshape(-1)
        kh, kw = dense.shape[2:]
        begins, ends, out = window_geometry(node, x.shape[2:], [kh, kw])
        pads = (begins[0], begins[1], ends[0], ends[1])
        if max(pads) > MAX_PAD:
            raise _Reject(f"padding {pads} exceeds the DMA's {MAX_PAD}")
        if x.shape[3] > MAX_XY or out[1] > MAX_XY:
            raise _Reject(f"image width {x.shape[3]} exceeds {MAX_XY}")
        return {"weights": dense, "w_scale": scale, "kernel": (kh, kw), "pads": pads,
                "stride": tuple(node.attrs["strides"]), "dilation": tuple(node.attrs["dilations"]),
                "out": tuple(out), "layout": "nchw"}

    def _matmul(self, node, x, wq, w_scale) -> dict:
        if node.attrs["transpose_a"] or wq.ndim != 2 or len(x.shape) < 2:
            raise _Reject("only activation x constant 2-D weight MatMuls run on the VPU")
        if node.attrs["transpose_b"]:
            wq, w_scale = wq.T, w_scale.T
        k, n = wq.shape
        scale = np.broadcast_to(w_scale, (1, n)).reshape(-1)
        return {"weights": np.ascontiguousarray(wq.T).reshape(n, k, 1, 1), "w_scale": scale,
                "kernel": (1, 1), "pads": (0, 0, 0, 0), "stride": (1, 1), "dilation": (1, 1),
                "layout": "rows"}

    def _activation_matmul(self, node: Node, a: Output, s_a: float) -> None:
        """MatMul of two int8 activations (attention's Q.K^T and P.V): B's rows are weight tiles."""
        b, s_b = self._quantized_input(node.inputs[1], "the second MatMul input")
        if node.attrs["transpose_a"] or node.attrs["transpose_b"]:
            raise _Reject("a MatMul of two activations runs on the VPU only untransposed "
                          "(the DMA reads weight tiles from the rows of the second input)")
        if len(a.shape) < 2 or len(a.shape) != len(b.shape) or a.shape[:-2] != b.shape[:-2]:
            raise _Reject(f"a MatMul of activations {a.shape} x {b.shape} needs equal batch dimensions")
        k, n = b.shape[-2:]
        batch = int(np.prod(a.shape[:-2]))
        match = Match("conv", node, [node], [(a, s_a), (b, s_b)], node.output(0), info={
            "weights": np.ones((n, k, 1, 1), np.int8), "w_scale": np.full(n, s_b), "kernel": (1, 1),
            "pads": (0, 0, 0, 0), "stride": (1, 1), "dilation": (1, 1), "layout": "rows",
            "dynamic": (batch, int(a.shape[-2]), int(k))})
        self._epilogue(match, n, -1)
        self.matches.append(match)

    def _add(self, node: Node) -> None:
        if any(p.constant_value() is not None for p in node.inputs):
            raise _Reject("an Add of a constant runs on the VPU only as a convolution's bias")
        (a, s_a), (b, s_b) = (self._quantized_input(p, f"Add input {i}")
                              for i, p in enumerate(node.inputs))
        if a.shape != b.shape:
            raise _Reject(f"broadcasting Add {a.shape} + {b.shape} does not run on the VPU")
        match = Match("add", node, [node], [(a, s_a), (b, s_b)], node.output(0),
                      info={"layout": "nchw" if len(a.shape) == 4 else "rows"})
        self._epilogue(match, 0, 1)
        self.matches.append(match)

    def _avgpool(self, node: Node) -> None:
        x, s_x = self._quantized_input(node.inputs[0], "the pooled activation")
        if len(x.shape) != 4:
            raise _Reject("only 2-D pooling runs on the VPU")
        h, w = x.shape[2:]
        if node.type_name == "ReduceMean":
            axes = node.input_value(1)
            if axes is None or sorted(int(a) % 4 for a in np.ravel(axes)) != [2, 3] \
                    or not node.attrs["keep_dims"]:
                raise _Reject("only a spatial ReduceMean (axes 2, 3, keep_dims) runs on the VPU")
            kernel, stride, pads, out = (h, w), (1, 1), (0, 0, 0, 0), (1, 1)
        else:
            kernel = tuple(node.attrs["kernel"])
            begins, ends, out = window_geometry(node, x.shape[2:], list(kernel))
            pads = (begins[0], begins[1], ends[0], ends[1])
            if any(pads) and node.attrs["exclude-pad"]:
                raise _Reject("AvgPool excluding padding divides by a varying count")
            stride = tuple(node.attrs["strides"])
        if max(pads) > MAX_PAD or w > MAX_XY or max(kernel) > MAX_WINDOW:
            raise _Reject(f"pooling window over {MAX_WINDOW}, or padding or width beyond the DMA's limits")
        self.matches.append(Match(
            "avgpool", node, [node, *[p.node for p in node.inputs[1:]]], [(x, s_x)], node.output(0),
            info={"kernel": kernel, "stride": stride, "pads": pads, "out": tuple(out), "layout": "nchw"}))

    def _maxpool(self, node: Node) -> None:
        x = node.inputs[0]
        if not _static(x) or len(x.shape) != 4:
            raise _Reject("only static 2-D max pooling runs on the VPU")
        if self.users.get(node.output(1)):
            raise _Reject("MaxPool indices are used")
        if any(d != 1 for d in node.attrs.get("dilations") or [1, 1]):
            raise _Reject("dilated max pooling does not run on the VPU")
        users = [u for u, _ in self.users.get(node.output(0), [])]
        scales = {fq_scale(u) for u in users}
        if users and all(u.type_name == "Result" for u in users):
            # an output: pooled on the producer's int32 accumulators, when a VPU layer made them
            if not any(m.output == x and m.kind in ("conv", "add") for m in self.matches):
                raise _Reject("MaxPool of a tensor no VPU layer produces, read by another device")
            scales = {None}
        elif not users or None in scales or len(scales) != 1:
            raise _Reject("MaxPool output is not re-quantized by one FakeQuantize")
        kernel = tuple(node.attrs["kernel"])
        begins, ends, out = window_geometry(node, x.shape[2:], list(kernel))
        if max(kernel) > MAX_WINDOW or x.shape[3] > MAX_XY:
            raise _Reject(f"pooling window over {MAX_WINDOW} or image wider than {MAX_XY}")
        scale = scales.pop()
        self.matches.append(Match(
            "maxpool", node, [node], [(x, scale)], node.output(0),
            info={"kernel": kernel, "stride": tuple(node.attrs["strides"]),  # scale None: int32 path
                  "pads": (begins[0], begins[1], ends[0], ends[1]), "out": tuple(out),
                  "scale": scale, "layout": "nchw"}))


class _Reject(Exception):
    pass


def analyze(model: Model, config: VPUConfig | None = None) -> VpuSupport:
    """Return the VPU layers of ``model`` and a reason for every node they don't cover."""
    return _Analyzer(model, config or VPUConfig()).run()
