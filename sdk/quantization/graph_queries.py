"""Questions the quantizer asks of a graph: is a port constant, what is its value, is it quantized."""

from __future__ import annotations

import numpy as np
from kiln.ir import Node, Output
from kiln.ir.evaluate import run_node

DEQUANTIZE_TYPES = ("Convert", "Subtract", "Multiply", "Reshape", "Unsqueeze", "Squeeze", "Transpose")
"""Ops that may sit between a FakeQuantize / integer tensor and the layer that reads it."""


class ConstantPorts:
    """Answer, with a cache, whether a port depends on no model input, and fold its value."""

    def __init__(self):
        self._constant: dict[int, bool] = {}

    def is_constant(self, port: Output) -> bool:
        """Return True when ``port`` is computed from Constants only (no Parameter upstream)."""
        return self._node_is_constant(port.node)

    def _node_is_constant(self, node: Node) -> bool:
        stack = [node]
        while stack:
            current = stack[-1]
            if id(current) in self._constant:
                stack.pop()
                continue
            if current.type_name == "Parameter":
                self._constant[id(current)] = False
                stack.pop()
                continue
            pending = [p.node for p in current.inputs if id(p.node) not in self._constant]
            if pending:
                stack.extend(pending)
                continue
            self._constant[id(current)] = all(self._constant[id(p.node)] for p in current.inputs)
            stack.pop()
        return self._constant[id(node)]

    def value(self, port: Output) -> np.ndarray:
        """Return the value of a constant port by running its (constant) producers' references."""
        values: dict[Output, np.ndarray] = {}

        def compute(out: Output) -> np.ndarray:
            if out not in values:
                args = [compute(p) for p in out.node.inputs]
                for index, value in enumerate(run_node(out.node, args)):
                    values[Output(out.node, index)] = value
            return values[out]

        return compute(port)


def quantized_source(port: Output) -> Node | None:
    """Return the FakeQuantize or integer-typed node that ``port`` dequantizes, else None.

    Walks up through Convert / Subtract / Multiply / reshaping ops (the DequantizeLinear
    pattern and OpenVINO's compressed weights); a FakeQuantize or a node producing an
    integer tensor there means the data was quantized before it reached the reader.
    """
    seen = 0
    while seen < 16:
        node = port.node
        if node.type_name == "FakeQuantize":
            return node
        if port.element_type.is_integer:
            return node
        if node.type_name not in DEQUANTIZE_TYPES or not node.inputs:
            return None
        if node.type_name in ("Subtract", "Multiply") and not _is_literal(node.inputs[1]):
            return None
        port = node.inputs[0]
        seen += 1
    return None


def _is_literal(port: Output) -> bool:
    """Return True for a Constant, possibly behind Convert / reshaping ops (a zero point, a scale)."""
    node = port.node
    while node.type_name in ("Convert", "Reshape", "Unsqueeze", "Squeeze", "Broadcast") and node.inputs:
        node = node.inputs[0].node
    return node.type_name == "Constant"
