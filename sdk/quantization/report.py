"""Per-layer quantization error: SQNR of each quantized layer against the float model.

Three figures per layer, all in dB (higher is better; 8-bit ideal is about 40 dB):

* ``weight_sqnr_db``: the layer's int8 weights against its float weights;
* ``layer_sqnr_db``: the layer alone: its output when only *its* inputs and weights are
  quantized (inputs taken from the float model), against the float output;
* ``cumulative_sqnr_db``: its output in the fully quantized model against the float model,
  i.e. the error accumulated up to this layer.

A layer with a low ``layer_sqnr_db`` is a good candidate for ``ignored_names``.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from kiln.ir import Model, Node, Output, evaluate
from kiln.ir.evaluate import run_node
from kiln.quantization.calibration import calibration_samples
from kiln.quantization.errors import QuantizationError
from kiln.quantization.graph_queries import ConstantPorts
from kiln.quantization.layers import ANCHOR_TYPES
from kiln.quantization.quantize import is_quantized_anchor


def sqnr_db(signal_power: float, noise_power: float) -> float:
    """Return 10·log10(signal / noise) in dB; +inf for zero noise."""
    if noise_power <= 0.0:
        return math.inf
    if signal_power <= 0.0:
        return -math.inf
    return 10.0 * math.log10(signal_power / noise_power)


@dataclasses.dataclass
class LayerError:
    """Quantization error of one layer (SQNR in dB against the float model)."""

    name: str
    type_name: str
    weight_sqnr_db: float | None
    layer_sqnr_db: float
    cumulative_sqnr_db: float
    activation_scale: float | None


@dataclasses.dataclass
class QuantizationReport:
    """Per-layer SQNR, in graph order, plus the SQNR and cosine of each model output."""

    layers: list[LayerError]
    outputs: dict[str, tuple[float, float]]
    samples: int

    def worst(self, count: int = 3) -> list[LayerError]:
        """Return the ``count`` layers with the lowest layer-alone SQNR."""
        return sorted(self.layers, key=lambda e: e.layer_sqnr_db)[:count]

    def table(self) -> str:
        """Return the report as a fixed-width text table."""
        def db(value):
            return "-" if value is None else ("inf" if math.isinf(value) else f"{value:6.1f}")

        width = max([len("layer")] + [len(e.name) for e in self.layers])
        lines = [f"{'layer':<{width}}  {'type':<16} {'weight dB':>9} {'layer dB':>9} {'cumul. dB':>9} "
                 f"{'act. scale':>10}"]
        worst = {e.name for e in self.worst(1)} if self.layers else set()
        for e in self.layers:
            scale = "-" if e.activation_scale is None else f"{e.activation_scale:.3g}"
            mark = "  <- worst" if e.name in worst else ""
            lines.append(f"{e.name:<{width}}  {e.type_name:<16} {db(e.weight_sqnr_db):>9} "
                         f"{db(e.layer_sqnr_db):>9} {db(e.cumulative_sqnr_db):>9} {scale:>10}{mark}")
        for name, (sqnr, cosine) in self.outputs.items():
            lines.append(f"output {name}: SQNR {db(sqnr).strip()} dB, cosine {cosine:.5f}")
        lines.append(f"({self.samples} samples)")
        return "\n".join(lines)

    __str__ = table


def report(float_model: Model, quantized_model: Model, data, subset_size: int | None = 16,
           progress: bool = False) -> QuantizationReport:
    """Return the per-layer SQNR of ``quantized_model`` against ``float_model`` on ``data``.

    Layers are matched by node name (``kiln.quantize`` keeps the names), so pass the
    model that was quantized, or ``kiln.optimize`` of it when it was quantized with the
    default ``optimize=True``.
    """
    float_nodes = {n.name: n for n in float_model.ordered_nodes()}
    anchors = [n for n in quantized_model.ordered_nodes()
               if n.type_name in ANCHOR_TYPES and is_quantized_anchor(n) and n.name in float_nodes]
    if not anchors:
        raise QuantizationError(f"model {quantized_model.name!r} has no quantized layer that "
                                f"{float_model.name!r} also has (layers are matched by node name)")
    constants = ConstantPorts()
    leaves: dict[str, list[Output]] = {a.name: _float_leaves(a, float_nodes) for a in anchors}
    float_ports = [float_nodes[a.name].output(0) for a in anchors]
    leaf_ports = sorted({(p.node.name, p.index) for ports in leaves.values() for p in ports})
    float_leaf_ports = [float_nodes[name].output(index) for name, index in leaf_ports]
    q_ports = [a.output(0) for a in anchors]
    signal = np.zeros(len(anchors))
    local_noise = np.zeros(len(anchors))
    cumulative_noise = np.zeros(len(anchors))
    out_stats = {name: [0.0, 0.0, 0.0, 0.0] for name in float_model.output_names}
    count = 0
    samples = calibration_samples(float_model, data, subset_size)
    if progress:
        from tqdm import tqdm

        samples = tqdm(samples, desc="SQNR report", unit="sample", leave=False)
    for _, sample in samples:
        n_float = len(float_ports)
        values = evaluate(float_model, sample, outputs=float_ports + float_leaf_ports + float_model.outputs)
        reference = values[:n_float]
        feeds = dict(zip(leaf_ports, values[n_float:n_float + len(leaf_ports)]))
        float_outputs = values[n_float + len(leaf_ports):]
        q_values = evaluate(quantized_model, sample, outputs=q_ports + quantized_model.outputs)
        for i, anchor in enumerate(anchors):
            ref = reference[i].astype(np.float64)
            local = _run_alone(anchor, feeds, float_nodes, constants).astype(np.float64)
            signal[i] += float(np.sum(ref * ref))
            local_noise[i] += float(np.sum((ref - local) ** 2))
            cumulative_noise[i] += float(np.sum((ref - q_values[i].astype(np.float64)) ** 2))
        for name, ref, got in zip(float_model.output_names, float_outputs, q_values[len(anchors):]):
            ref, got = np.asarray(ref, np.float64).ravel(), np.asarray(got, np.float64).ravel()
            stats = out_stats[name]
            stats[0] += float(ref @ ref)
            stats[1] += float((ref - got) @ (ref - got))
            stats[2] += float(ref @ got)
            stats[3] += float(got @ got)
        count += 1
    if count == 0:
        raise QuantizationError("report(): data is empty; give at least one sample")
    layers = []
    for i, anchor in enumerate(anchors):
        layers.append(LayerError(
            anchor.name, anchor.type_name, _weight_sqnr(anchor, float_nodes[anchor.name], constants),
            sqnr_db(signal[i], local_noise[i]), sqnr_db(signal[i], cumulative_noise[i]),
            _activation_scale(anchor)))
    outputs = {}
    for name, (ss, nn, sg, gg) in out_stats.items():
        cosine = sg / math.sqrt(ss * gg) if ss > 0 and gg > 0 else (1.0 if ss == gg else 0.0)
        outputs[name] = (sqnr_db(ss, nn), cosine)
    return QuantizationReport(layers, outputs, count)


def _float_leaves(anchor: Node, float_nodes: dict[str, Node]) -> list[Output]:
    """Return the ports where the anchor's quantized inputs meet tensors of the float model."""
    leaves, stack, seen = [], list(anchor.inputs), set()
    while stack:
        port = stack.pop()
        if port in seen:
            continue
        seen.add(port)
        if port.node.name in float_nodes and port.node.type_name != "Constant":
            leaves.append(port)
        else:
            stack.extend(port.node.inputs)
    return leaves


def _run_alone(anchor: Node, feeds: dict, float_nodes: dict[str, Node], constants: ConstantPorts
               ) -> np.ndarray:
    """Return the anchor's output with float-model values at its leaves and its own quantization."""
    cache: dict[Output, np.ndarray] = {}

    def value(port: Output) -> np.ndarray:
        key = (port.node.name, port.index)
        if key in feeds and port.node.name in float_nodes:
            return feeds[key]
        if port not in cache:
            if port.node.type_name == "Constant":
                cache[port] = port.node.attrs["value"]
            else:
                outs = run_node(port.node, [value(p) for p in port.node.inputs])
                for index, out in enumerate(outs):
                    cache[Output(port.node, index)] = out
        return cache[port]

    return run_node(anchor, [value(p) for p in anchor.inputs])[0]


def _weight_sqnr(anchor: Node, float_anchor: Node, constants: ConstantPorts) -> float | None:
    for index in (1, 0):
        q_port, f_port = anchor.inputs[index], float_anchor.inputs[index]
        if constants.is_constant(q_port) and constants.is_constant(f_port) and q_port.node is not f_port.node:
            ref = constants.value(f_port).astype(np.float64)
            got = constants.value(q_port).astype(np.float64)
            if ref.shape == got.shape:
                return sqnr_db(float(np.sum(ref * ref)), float(np.sum((ref - got) ** 2)))
    return None


def _activation_scale(anchor: Node) -> float | None:
    port = anchor.inputs[0]
    if port.node.type_name == "FakeQuantize":
        high = port.node.input_value(2)
        levels = port.node.attrs.get("levels", 256)
        low = port.node.input_value(1)
        if high is not None and low is not None:
            return float((np.max(high) - np.min(low)) / (levels - 1))
    return None
