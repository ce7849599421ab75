"""Find what to quantize: anchor layers, their activation and weight inputs, the ignored scope."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable

from kiln.ir import Model, Node, Output
from kiln.quantization.graph_queries import ConstantPorts, quantized_source

ANCHOR_TYPES = ("Convolution", "GroupConvolution", "MatMul")
"""Ops computed on int8 operands (the MAC work the VPU's systolic array does)."""

INTEGER_PIPELINE_TYPES = ("Add", "AvgPool", "ReduceMean")
"""Ops whose activation inputs are also quantized so a residual sum / average stays integer
(ReduceMean is how ONNX GlobalAveragePool arrives)."""


@dataclasses.dataclass(frozen=True)
class IgnoredScope:
    """Nodes kept in float: exact names, op types, and regular expressions matched against names."""

    names: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()

    @classmethod
    def of(cls, names: Iterable[str] = (), types: Iterable[str] = (), patterns: Iterable[str] = ()
           ) -> IgnoredScope:
        for label, value in (("ignored_names", names), ("ignored_types", types),
                             ("ignored_patterns", patterns)):
            if isinstance(value, str):
                raise TypeError(f"{label} must be a list of strings, not the string {value!r}")
        return cls(tuple(names), tuple(types), tuple(patterns))

    def matches(self, node: Node) -> bool:
        return (node.name in self.names or node.type_name in self.types
                or any(re.fullmatch(p, node.name) for p in self.patterns))

    def check(self, model: Model) -> None:
        """Raise KeyError-free QuantizationError when a named node does not exist (a typo)."""
        from kiln.quantization.errors import QuantizationError

        known = {n.name for n in model.ordered_nodes()}
        missing = [n for n in self.names if n not in known]
        if missing:
            raise QuantizationError(f"ignored_names: model {model.name!r} has no node(s) {missing}")


@dataclasses.dataclass
class Layer:
    """One anchor to quantize.

    ``activations``: input indices to fake-quantize per tensor; ``weight``: index of the
    constant input quantized per output channel (or None); ``channel_axes``: the axes of
    that weight which index output channels (kept in the scale's shape).
    """

    node: Node
    activations: list[int]
    weight: int | None
    channel_axes: tuple[int, ...]


@dataclasses.dataclass
class QuantizationPlan:
    """What quantize() will change: anchors, extra activation points, and what it leaves alone."""

    layers: list[Layer]
    pipeline_points: list[tuple[Node, int]]
    already_quantized: list[str]
    ignored: list[str]

    def activation_uses(self) -> dict[Output, list[tuple[Node, int]]]:
        """Return each activation port to fake-quantize with the (node, input) pairs reading it."""
        uses: dict[Output, list[tuple[Node, int]]] = {}
        for layer in self.layers:
            for index in layer.activations:
                uses.setdefault(layer.node.inputs[index], []).append((layer.node, index))
        for node, index in self.pipeline_points:
            uses.setdefault(node.inputs[index], []).append((node, index))
        return uses


def weight_channel_axes(node: Node, index: int) -> tuple[int, ...]:
    """Return the axes of input ``index`` of ``node`` that index output channels."""
    rank = len(node.inputs[index].shape or ())
    if node.type_name == "Convolution":
        return (0,)
    if node.type_name == "GroupConvolution":
        return (0, 1)
    if rank < 2:
        return ()
    if index == 1:  # B: [..., K, N], or [..., N, K] when transposed
        return (rank - 2,) if node.attrs.get("transpose_b") else (rank - 1,)
    return (rank - 1,) if node.attrs.get("transpose_a") else (rank - 2,)


PASS_THROUGH_TYPES = ("Relu", "Clamp", "MaxPool", "Reshape", "Squeeze", "Unsqueeze", "Transpose",
                      "FakeQuantize")
"""Ops an int8 tensor crosses and stays int8 (monotone or layout-only)."""


def feeds_int8_layer(node: Node, readers, ignored: IgnoredScope) -> bool:
    """Return True when ``node``'s output reaches a quantized layer through int8-preserving ops.

    Only then is it worth computing ``node`` (a residual Add, a pooling) on int8 operands: a
    residual sum that goes on into a LayerNorm or softmax would only lose precision.
    """
    stack, seen = [node], set()
    while stack:
        current = stack.pop()
        for port in current.outputs[:1]:
            for reader, _ in readers.get(port, []):
                if id(reader) in seen or ignored.matches(reader):
                    continue
                seen.add(id(reader))
                if reader.type_name in ANCHOR_TYPES:
                    return True
                if reader.type_name in PASS_THROUGH_TYPES + INTEGER_PIPELINE_TYPES:
                    stack.append(reader)
    return False


def plan_quantization(model: Model, ignored: IgnoredScope, quantize_pipeline: bool = True
                      ) -> QuantizationPlan:
    """Return the QuantizationPlan of ``model``: which inputs of which nodes become int8."""
    constants = ConstantPorts()
    readers = model.consumers()
    layers: list[Layer] = []
    points: list[tuple[Node, int]] = []
    already: list[str] = []
    skipped: list[str] = []
    for node in model.ordered_nodes():
        if node.type_name in ANCHOR_TYPES:
            if ignored.matches(node):
                skipped.append(node.name)
                continue
            activations, weight = [], None
            quantized_inputs = 0
            for index in (0, 1):
                port = node.inputs[index]
                if not port.element_type.is_float:
                    quantized_inputs += 1
                    continue
                if quantized_source(port) is not None:
                    quantized_inputs += 1
                elif constants.is_constant(port):
                    weight = index if weight is None else weight
                else:
                    activations.append(index)
            if weight is not None and not activations and quantized_inputs == 0:
                continue  # both inputs constant: a constant-folding leftover, nothing to run in int8
            if not activations and weight is None:
                already.append(node.name)
                continue
            axes = weight_channel_axes(node, weight) if weight is not None else ()
            layers.append(Layer(node, activations, weight, axes))
        elif (quantize_pipeline and node.type_name in INTEGER_PIPELINE_TYPES and not ignored.matches(node)
              and feeds_int8_layer(node, readers, ignored)):
            inputs = [i for i, p in enumerate(node.inputs[:2])
                      if p.element_type.is_float and not constants.is_constant(p)]
            wanted = 2 if node.type_name == "Add" else 1
            if len(inputs) == wanted:
                points.extend((node, i) for i in inputs if quantized_source(node.inputs[i]) is None)
    return QuantizationPlan(layers, points, already, skipped)
