"""GELU fusion: replace the erf formula ``0.5 * x * (1 + erf(x / sqrt(2)))`` by one ``Gelu``.

Exporters (PyTorch, TensorFlow, ONNX's own function expansion) write GELU as five
elementwise nodes; one ``Gelu`` (approximation_mode ``ERF``) is what fused kernels and
``fuse_bias_activation`` recognise.
"""

from __future__ import annotations

import math

import numpy as np
from kiln.ir import Model, Node, Output
from kiln.ir.graph import make
from kiln.passes.rewrite import Consumers, node_names, unique_name


def _scalar(port: Output, value: float) -> bool:
    """Return True when ``port`` is a constant whose every element is ``value`` (relative 1e-5)."""
    constant = port.constant_value()
    return (constant is not None and constant.size > 0 and constant.dtype.kind == "f"
            and bool(np.allclose(constant, value, rtol=1e-5, atol=0)))


def _other(node: Node, port: Output) -> Output | None:
    """Return the input of two-input ``node`` that is not ``port`` (None if both are)."""
    a, b = node.inputs
    if a == port and b != port:
        return b
    if b == port and a != port:
        return a
    return None


def _erf_argument(erf: Node) -> Output | None:
    """Return ``x`` when the Erf reads ``x / sqrt(2)`` or ``x * (1 / sqrt(2))``."""
    scaled = erf.inputs[0].node
    if scaled.type_name == "Divide" and _scalar(scaled.inputs[1], math.sqrt(2)):
        return scaled.inputs[0]
    if scaled.type_name == "Multiply":
        for data, factor in (scaled.inputs, scaled.inputs[::-1]):
            if _scalar(factor, 1 / math.sqrt(2)) and factor.constant_value() is not None:
                return data
    return None


def fuse_gelu(model: Model) -> Model:
    """Replace each erf-formula GELU in ``model`` by a ``Gelu`` node, in place; return ``model``.

    Matched: ``Erf(x / sqrt(2))`` (or ``x * 0.7071...``) plus 1, multiplied by ``x`` and
    by 0.5 in any order or grouping (``(x * 0.5) * t``, ``(x * t) * 0.5``,
    ``x * (t * 0.5)``). Every intermediate node must have a single reader and the
    output must have ``x``'s shape and element type. The Gelu takes the name of the last
    node of the pattern.
    """
    users = Consumers(model)
    names = node_names(model)
    for erf in model.ordered_nodes():
        if erf.type_name != "Erf" or not users.of(erf.output(0)):
            continue
        x = _erf_argument(erf)
        if x is None or not x.element_type.is_float or users.only(erf.inputs[0]) is not erf:
            continue
        plus_one = users.only(erf.output(0))
        if plus_one is None or plus_one.type_name != "Add":
            continue
        one = _other(plus_one, erf.output(0))
        if one is None or not _scalar(one, 1.0):
            continue
        end = _multiplied_by_half_x(plus_one.output(0), x, users)
        if end is None or end.output_types[0] != (x.element_type, x.shape):
            continue
        names.discard(end.name)
        gelu = make("Gelu", x, approximation_mode="ERF", name=unique_name(names, end.name))
        users.add(gelu)
        users.replace(end.output(0), gelu.output(0))
    return model


def _is_half_x(port: Output, x: Output, users: Consumers, reader: Node) -> bool:
    """Return True when ``port`` is ``x * 0.5`` read only by ``reader``."""
    node = port.node
    if node.type_name != "Multiply" or users.only(port) is not reader:
        return False
    other = _other(node, x)
    return other is not None and _scalar(other, 0.5)


def _multiplied_by_half_x(port: Output, x: Output, users: Consumers) -> Node | None:
    """Follow one or two single-reader Multiplies from ``port``; return the last if they bring ``x * 0.5``."""
    found_x, found_half = False, False
    for _ in range(2):
        node = users.only(port)
        if node is None or node.type_name != "Multiply":
            return None
        other = _other(node, port)
        if other is None:
            return None
        if other == x:
            found_x = True
        elif _scalar(other, 0.5):
            found_half = True
        elif _is_half_x(other, x, users, node):
            found_x = found_half = True
        else:
            return None
        if found_x and found_half:
            return node
        port = node.output(0)
    return None
