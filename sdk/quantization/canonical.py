"""Rewrite ONNX QuantizeLinear/DequantizeLinear pairs on activations into one FakeQuantize.

The ONNX frontend decomposes ``DequantizeLinear(QuantizeLinear(x, s, zp), s, zp)`` into::

    x -> Divide(s) -> Round(half_to_even) [-> Add(zp)] -> Clamp(lo, hi) -> Convert(int)
      -> Convert(float) [-> Subtract(zp)] -> Multiply(s)

which is exactly ``FakeQuantize(x, il, ih, il, ih, levels)`` with ``il = (lo - zp)·s``,
``ih = (hi - zp)·s`` and ``levels = hi - lo + 1`` when ``s`` and ``zp`` are per-tensor
constants (both pairs use the same ones). Rewriting gives already-quantized models the
same form kiln.quantize writes (docs/quantization.md), so devices match one pattern.
Weights quantized this way arrive folded to f32 constants on an int8 grid; kiln.quantize
turns them back into i8 Constant + Convert + Multiply without changing their values.
"""

from __future__ import annotations

import numpy as np
from kiln.ir import Model, Node, Output, constant, make
from kiln.quantization.graph_queries import ConstantPorts


def fold_quantize_dequantize(model: Model) -> int:
    """Replace every matching Q/DQ chain of ``model`` by a FakeQuantize, in place; return how many."""
    constants = ConstantPorts()
    readers = model.consumers()
    count = 0
    for node in model.ordered_nodes():
        match = _match(node, constants)
        if match is None:
            continue
        x, scale, zero_point, low, high = match
        il = np.float32((low - zero_point) * scale)
        ih = np.float32((high - zero_point) * scale)
        etype = x.element_type
        lo_port = constant(np.array(il, etype.numpy), name=f"{node.name}/fq/low")
        hi_port = constant(np.array(ih, etype.numpy), name=f"{node.name}/fq/high")
        fq = make("FakeQuantize", x, lo_port, hi_port, lo_port, hi_port, levels=int(high - low + 1),
                  name=f"{node.name}/fq")
        fq.output_names[0] |= set(node.output_names[0])
        for reader, index in readers.get(node.output(0), []):
            reader.inputs[index] = fq.output(0)
        count += 1
    return count


def _scalar(port: Output, constants: ConstantPorts) -> float | None:
    if not constants.is_constant(port):
        return None
    value = np.asarray(constants.value(port))
    return float(value.reshape(())) if value.size == 1 else None


def _match(node: Node, constants: ConstantPorts) -> tuple[Output, float, float, float, float] | None:
    """Return (x, scale, zero point, clamp low, clamp high) when ``node`` ends a Q/DQ chain."""
    if node.type_name != "Multiply" or not node.output_types[0][0].is_float:
        return None
    scale = _scalar(node.inputs[1], constants)
    current = node.inputs[0].node
    zero_point = 0.0
    if current.type_name == "Subtract":
        zp = _scalar(current.inputs[1], constants)
        if zp is None:
            return None
        zero_point = zp
        current = current.inputs[0].node
    if current.type_name != "Convert" or not current.output_types[0][0].is_float:
        return None
    current = current.inputs[0].node
    if current.type_name != "Convert" or not current.output_types[0][0].is_integer:
        return None
    clamp = current.inputs[0].node
    if clamp.type_name != "Clamp":
        return None
    current = clamp.inputs[0].node
    if current.type_name == "Add":
        zp = _scalar(current.inputs[1], constants)
        if zp is None or zp != zero_point:
            return None
        current = current.inputs[0].node
    elif zero_point != 0.0:
        return None
    if current.type_name != "Round" or current.attrs.get("mode") != "half_to_even":
        return None
    divide = current.inputs[0].node
    if divide.type_name != "Divide" or scale is None or scale <= 0:
        return None
    if _scalar(divide.inputs[1], constants) != scale:
        return None
    low, high = float(clamp.attrs["min"]), float(clamp.attrs["max"])
    if not (low <= zero_point <= high) or high - low < 1 or low != int(low) or high != int(high):
        return None
    return divide.inputs[0], scale, zero_point, low, high
