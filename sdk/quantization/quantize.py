"""kiln.quantize: post-training int8 quantization into OpenVINO-style FakeQuantize IR.

See docs/quantization.md for the exact IR form this produces.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import numpy as np
from kiln.ir import Model, Node, Output, constant, make
from kiln.quantization.calibration import METHODS, collect_statistics, estimate_range
from kiln.quantization.canonical import fold_quantize_dequantize
from kiln.quantization.errors import QuantizationError
from kiln.quantization.graph_queries import ConstantPorts
from kiln.quantization.layers import ANCHOR_TYPES, IgnoredScope, Layer, plan_quantization

ACTIVATION_LEVELS = 256
"""FakeQuantize levels on activations: int8 [-128, 127], zero point 0."""

WEIGHT_MAX = 127
"""Largest int8 weight magnitude (narrow range [-127, 127], symmetric)."""


def quantize(model: Model, calibration_data: Iterable | None = None, *, method: str = "minmax",
             percentile: float = 99.99, subset_size: int | None = 300,
             ignored_names: Iterable[str] = (), ignored_types: Iterable[str] = (),
             ignored_patterns: Iterable[str] = (), quantize_pipeline: bool = True,
             optimize: bool = True, progress: bool = True) -> Model:
    """Return an int8-quantized copy of ``model`` calibrated on ``calibration_data``.

    ``calibration_data`` is an iterable of samples, each a dict ``{input_name: array}`` (or
    a list / a single array for a one-input model); the first ``subset_size`` are used.
    Activations entering Convolution / GroupConvolution / MatMul (and residual ``Add``,
    ``AvgPool``, ``ReduceMean`` when ``quantize_pipeline``) get a per-tensor symmetric int8 FakeQuantize
    whose range comes from ``method`` ("minmax", "percentile" at ``percentile`` %, or
    "entropy"). Constant weights become per-output-channel symmetric int8 (i8 Constant,
    Convert, Multiply by the f32 scale). Nodes named in ``ignored_names``, of a type in
    ``ignored_types`` or whose name fully matches a regex of ``ignored_patterns`` stay float.

    Layers that arrive already quantized (FakeQuantize, ONNX QuantizeLinear/DequantizeLinear,
    int8 weights) keep their ranges: Q/DQ pairs on activations become the equivalent
    FakeQuantize, and weights on an int8 grid are stored as i8; a model with only such
    layers needs no calibration data. ``optimize`` first runs kiln's default passes (e.g.
    BatchNorm folding) so folded weights are what gets quantized. The input model is not
    changed.

    Raises QuantizationError when there is no quantizable layer or the calibration data is
    empty, and InferenceInputError naming the sample when a sample does not fit the inputs.
    """
    if not isinstance(model, Model):
        raise QuantizationError(f"quantize() takes a kiln Model, not {type(model).__name__}")
    if method not in METHODS:
        raise QuantizationError(f"unknown calibration method {method!r}; choose one of {METHODS}")
    if not 0.0 < percentile <= 100.0:
        raise QuantizationError(f"percentile must be in (0, 100], got {percentile}")
    scope = IgnoredScope.of(ignored_names, ignored_types, ignored_patterns)
    scope.check(model)
    model = model.clone()
    if fold_quantize_dequantize(model):  # before the passes, which reshape the DequantizeLinear maths
        for node in model.ordered_nodes():
            node.infer()
    if optimize:
        from kiln.passes import optimize as run_passes

        model = run_passes(model)
    plan = plan_quantization(model, scope, quantize_pipeline)
    if not plan.layers:
        if plan.already_quantized:
            return model
        found = sorted({n.type_name for n in model.ordered_nodes()})
        detail = f"; kept in float by the ignored scope: {plan.ignored}" if plan.ignored else ""
        raise QuantizationError(
            f"model {model.name!r} has no quantizable layer (none of {list(ANCHOR_TYPES)} with a float "
            f"input; its ops are {found}){detail}")
    uses = plan.activation_uses()
    ports = list(uses)
    stats = collect_statistics(model, ports, calibration_data, method, subset_size, progress) if ports else {}
    names = _NameSource(model)
    consumers = model.consumers()
    for port, readers in uses.items():
        magnitude = estimate_range(stats[port], method, percentile)
        fq = fake_quantize(port, magnitude, names.fresh(f"{port.node.name}/fq"))
        for node, index in readers:
            node.inputs[index] = fq
        source = _pooled_source(port, consumers)
        if source is not None and source not in uses:
            held = fake_quantize(source, magnitude, names.fresh(f"{source.node.name}/fq"))
            for node, index in consumers[source]:
                node.inputs[index] = held
    constants = ConstantPorts()
    for layer in plan.layers:
        if layer.weight is not None:
            _quantize_weight(layer, constants, names)
    model.rt_info["quantization"] = (
        f"kiln int8: method={method}" + (f" percentile={percentile}" if method == "percentile" else "")
        + f" layers={len(plan.layers)} activations={len(uses)}")
    return model


LAYOUT_TYPES = ("Reshape", "Squeeze", "Unsqueeze", "Transpose")
"""Ops that only move values: a per-tensor int8 grid passes through them unchanged."""


def _pooled_source(port: Output, consumers) -> Output | None:
    """Return the MaxPool output that reaches ``port`` only through layout ops, else None.

    A MaxPool of int8 values is int8 at the same scale, so its output gets the same
    FakeQuantize as the layer that reads it: the pooled tensor is then stored as int8 and
    the layout ops in between move int8 values.
    """
    current = port
    while current.node.type_name in LAYOUT_TYPES:
        source = current.node.inputs[0]
        if len(consumers.get(source, [])) != 1:
            return None
        current = source
    if current is port or current.node.type_name != "MaxPool" or current.index != 0:
        return None
    return current


def fake_quantize(port: Output, magnitude: float, name: str) -> Output:
    """Return a symmetric int8 FakeQuantize of ``port``: step ``magnitude / 127``, zero point 0."""
    etype = port.element_type
    scale = np.float32(magnitude) / np.float32(127)
    low = constant(np.array(-128 * scale, etype.numpy), name=f"{name}/low")
    high = constant(np.array(127 * scale, etype.numpy), name=f"{name}/high")
    node = make("FakeQuantize", port, low, high, low, high, levels=ACTIVATION_LEVELS, name=name)
    return node.output(0)


def quantize_weight(weight: np.ndarray, channel_axes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(w_q int8, scale f32)`` with ``w ≈ w_q * scale``, symmetric per output channel.

    ``scale`` keeps ``weight``'s rank with size 1 on every axis but ``channel_axes``;
    ``scale = max|w| / 127`` over each channel (1.0 for an all-zero channel).
    """
    w = np.asarray(weight, np.float32)
    reduce = tuple(a for a in range(w.ndim) if a not in channel_axes)
    top = np.max(np.abs(w), axis=reduce, keepdims=True) if w.size else np.ones([1] * w.ndim, np.float32)
    scale = np.where(top > 0, top / WEIGHT_MAX, 1.0).astype(np.float32)
    q = np.clip(np.rint(w / scale), -WEIGHT_MAX, WEIGHT_MAX).astype(np.int8)
    return q, scale


def _quantize_weight(layer: Layer, constants: ConstantPorts, names: _NameSource) -> None:
    node = layer.node
    port = node.inputs[layer.weight]
    value = constants.value(port)
    q, scale = quantize_weight(value, layer.channel_axes)
    etype = port.element_type
    base = names.fresh(f"{node.name}/weights")
    stored = constant(q, name=f"{base}/i8")
    converted = make("Convert", stored, destination_type=etype, name=f"{base}/convert")
    scales = constant(scale.astype(etype.numpy), name=f"{base}/scale")
    dequantized = make("Multiply", converted.output(0), scales, name=f"{base}/dequantize")
    node.inputs[layer.weight] = dequantized.output(0)


class _NameSource:
    """Hand out node names not yet used in a model."""

    def __init__(self, model: Model):
        self.used = {n.name for n in model.ordered_nodes()}

    def fresh(self, base: str) -> str:
        name = base
        for i in itertools.count(1):
            if name not in self.used:
                break
            name = f"{base}_{i}"
        self.used.add(name)
        return name


def is_quantized_anchor(node: Node) -> bool:
    """Return True when ``node`` is a Convolution/GroupConvolution/MatMul reading int8 data."""
    from kiln.quantization.graph_queries import quantized_source

    return node.type_name in ANCHOR_TYPES and any(
        quantized_source(p) is not None for p in node.inputs[:2])


__all__ = ["fake_quantize", "is_quantized_anchor", "quantize", "quantize_weight"]
