"""Constant folding: replace every node whose inputs are all constant by its value."""

from __future__ import annotations

import numpy as np
from kiln.errors import KilnError
from kiln.ir import Model, Node
from kiln.ir.evaluate import run_node
from kiln.ir.types import is_static
from kiln.passes.rewrite import Consumers, node_names, unique_name

MAX_GROWTH = 2
"""A folded value may be at most this many times the bytes of its constant inputs..."""

MIN_BUDGET_BYTES = 1 << 16
"""...or this many bytes (64 KiB), whichever is larger; bigger results stay unfolded."""

NEVER_FOLDED = frozenset({"Parameter", "Constant", "Result", "RandomUniform", "Multinomial", "ReadValue",
                          "Assign"})
"""Ops that are never folded: graph boundaries, random and stateful ops."""

WEIGHT_INPUTS = {"Convolution": (1,), "GroupConvolution": (1,), "ConvolutionBackpropData": (1,),
                 "GroupConvolutionBackpropData": (1,), "MatMul": (0, 1)}
"""Op type -> inputs that hold weights: any backend materializes these, so they fold whatever their size."""


def fold_constants(model: Model) -> Model:
    """Fold constant subgraphs of ``model`` in place and return it.

    A node is folded when every input is a Constant, or when it is a ``ShapeOf``
    of a statically shaped tensor (so shape subgraphs such as ShapeOf -> Gather ->
    Concat -> Reshape fold to a constant target). A node whose outputs would take
    more than ``max(MAX_GROWTH * input bytes, MIN_BUDGET_BYTES)`` is left alone, so a
    Broadcast of a scalar to a large tensor does not bloat the model, unless every
    reader takes it as weights (``WEIGHT_INPUTS``), as with ONNX ``ConstantOfShape``
    filters. int8 weights stay int8 (:func:`is_weight_decompression`); a FakeQuantize
    of constant weights folds to f32 values on its grid, which ``kiln.quantize`` stores
    back as int8 (docs/quantization.md).
    """
    users = Consumers(model)
    names = node_names(model)
    for node in model.ordered_nodes():
        if node.type_name in NEVER_FOLDED or is_weight_decompression(node, users):
            continue
        as_weights = all(reader.type_name in WEIGHT_INPUTS and index in WEIGHT_INPUTS[reader.type_name]
                         for port in node.outputs for reader, index in users.of(port))
        values = _folded_values(node, unlimited=as_weights)
        if values is None:
            continue
        for index, value in enumerate(values):
            port = node.output(index)
            if not users.of(port):
                continue
            base = node.name if len(values) == 1 else f"{node.name}/out{index}"
            names.discard(node.name)
            folded = Node("Constant", [], {"value": value}, name=unique_name(names, base))
            users.replace(port, folded.output(0))
    return model


def is_weight_decompression(node: Node, users: Consumers) -> bool:
    """Return True for the ``Convert`` that starts an int8 weight dequantization.

    That is a ``Convert`` of a constant of at most 8-bit integers to a float type whose
    every reader is a ``Subtract`` (zero point) or ``Multiply`` (scale) taking it as
    input 0: the int8 weight form of a quantized model (``Constant i8 -> Convert f32
    -> Multiply scale``, docs/quantization.md) that the VPU compiler matches. Folding it
    would turn int8 weights back into f32. (A converted zero point, read as input 1, folds.)
    """
    if node.type_name != "Convert" or node.inputs[0].node.type_name != "Constant":
        return False
    source = node.inputs[0].element_type
    if not (source.is_integer and source.bitwidth <= 8 and node.output_types[0][0].is_float):
        return False
    readers = users.of(node.output(0))
    return bool(readers) and all(r.type_name in ("Subtract", "Multiply") and i == 0 for r, i in readers)


def _folded_values(node: Node, unlimited: bool) -> list[np.ndarray] | None:
    if node.type_name == "ShapeOf":
        shape = node.inputs[0].shape
        if not is_static(shape):
            return None
        return [np.asarray(shape, dtype=node.output_types[0][0].numpy)]
    inputs = [port.constant_value() for port in node.inputs]
    if any(value is None for value in inputs):
        return None
    budget = max(MAX_GROWTH * sum(np.asarray(v).nbytes for v in inputs), MIN_BUDGET_BYTES)
    if unlimited:
        budget = float("inf")
    for etype, shape in node.output_types:
        if shape is None or not is_static(shape):
            continue
        if int(np.prod(shape, dtype=np.int64)) * max(etype.bitwidth // 8, 1) > budget:
            return None
    try:
        values = run_node(node, inputs)
    except KilnError:  # no reference, or it rejects these inputs: inference will report it
        return None
    folded = []
    for (etype, _), value in zip(node.output_types, values):
        if etype.value != "string" and value.dtype != etype.numpy:
            value = value.astype(etype.numpy)
        if value.nbytes > budget:
            return None
        folded.append(value)
    return folded
