"""Fold a BatchNorm (or any per-channel scale and shift) into the convolution before it."""

from __future__ import annotations

import numpy as np
from kiln.ir import Model, Node, Output, constant
from kiln.ir.graph import make
from kiln.passes.rewrite import Consumers, node_names, per_channel, unique_name

ANCHORS = {"Convolution": 1, "GroupConvolution": 1, "MatMul": -1}
"""Op type -> the output axis its weights' output channels run along."""


def fold_batch_norm(model: Model) -> Model:
    """Fold per-channel affine ops after a convolution/matmul into its weights; return ``model``.

    Starting from a ``Convolution``, ``GroupConvolution`` or ``MatMul`` with constant
    weights, follow single-consumer chains of ``BatchNormInference`` (opset5) and
    ``Multiply``/``Divide``/``Add``/``Subtract`` by a per-channel constant. The chain
    computes ``a * y + c`` per channel; when it scales (``a`` is not all ones), the
    weights become ``W * a`` and the chain becomes one ``Add`` of ``c`` shaped like a
    bias (``[1, C, 1, ...]`` for convolutions, ``[C]`` for MatMul), named after the last
    node of the chain.

    A chain of two or more such ops elsewhere (e.g. DenseNet's BatchNorm -> Multiply
    -> Add after a Concat) is merged into one ``Multiply`` and one ``Add`` by
    ``[1, C, 1, ...]`` constants (either left out when it is the identity).
    """
    users = Consumers(model)
    names = node_names(model)
    for node in model.ordered_nodes():
        if node.type_name in ANCHORS and _constant_weights(node) is not None:
            _fold(node, users, names)
    for node in model.ordered_nodes():
        if node.type_name in AFFINE and users.of(node.output(0)):
            _merge_chain(node, users, names)
    return model


AFFINE = frozenset({"BatchNormInference", "Multiply", "Divide", "Add", "Subtract"})
"""Ops that are a per-channel ``a * y + c`` when their other inputs are per-channel constants."""


def _merge_chain(first: Node, users: Consumers, names: set[str]) -> None:
    """Merge the chain of affine ops starting at ``first`` into one Multiply and one Add."""
    data = [p for p in first.inputs if p.constant_value() is None]
    if len(data) != 1 or data[0].shape is None or len(data[0].shape) < 2 or not data[0].element_type.is_float:
        return
    source = data[0]
    rank, channels = len(source.shape), source.shape[1]
    if channels is None:
        return
    step = _affine_step(first, source, rank, 1, channels)
    if step is None:
        return
    scale, shift = step
    port, end, length = first.output(0), first, 1
    while (consumer := users.only(port)) is not None:
        step = _affine_step(consumer, port, rank, 1, channels)
        if step is None:
            break
        scale, shift = scale * step[0], shift * step[0] + step[1]
        port, end, length = consumer.output(0), consumer, length + 1
    if length < 2:
        return
    shape = [channels if i == 1 else 1 for i in range(rank)]
    dtype = source.element_type.numpy
    result = source
    if np.any(scale != 1):
        factor = constant(scale.astype(dtype).reshape(shape), name=unique_name(names, f"{end.name}/scale"))
        multiply = make("Multiply", result, factor, name=unique_name(names, f"{end.name}/multiply"))
        users.add(multiply)
        result = multiply.output(0)
    if np.any(shift != 0):
        offset = constant(shift.astype(dtype).reshape(shape), name=unique_name(names, f"{end.name}/shift"))
        names.discard(end.name)
        add = make("Add", result, offset, name=unique_name(names, end.name))
        users.add(add)
        result = add.output(0)
    users.replace(end.output(0), result)


def _constant_weights(node: Node) -> np.ndarray | None:
    weights = node.input_value(1)
    if weights is None or weights.dtype.kind != "f" or node.output_types[0][1] is None:
        return None
    if node.type_name == "MatMul" and (weights.ndim != 2 or node.attrs.get("transpose_a")):
        return None
    return weights


def _fold(anchor: Node, users: Consumers, names: set[str]) -> None:
    out_shape = anchor.output_types[0][1]
    axis = ANCHORS[anchor.type_name] % len(out_shape)
    channels = out_shape[axis]
    if channels is None:
        return
    scale = np.ones(channels)
    shift = np.zeros(channels)
    port, end = anchor.output(0), None
    while True:
        consumer = users.only(port)
        step = None if consumer is None else _affine_step(consumer, port, len(out_shape), axis, channels)
        if step is None:
            break
        a, c = step
        scale, shift = scale * a, shift * a + c
        port, end = consumer.output(0), consumer
    if end is None or np.all(scale == 1):
        return
    weights = _constant_weights(anchor)
    dtype = weights.dtype
    factor = scale.astype(dtype)  # scale the weights in their own precision, as OpenVINO does
    if anchor.type_name == "MatMul":
        column = (slice(None), None) if anchor.attrs.get("transpose_b") else (None, slice(None))
        folded = weights * factor[column]
    else:
        folded = _scale_filters(weights, factor, anchor.type_name == "GroupConvolution")
    old_weights = anchor.inputs[1]
    anchor.inputs[1] = constant(folded.astype(dtype),
                                name=unique_name(names, f"{old_weights.node.name}/folded"))
    users.add(anchor)
    result: Output = anchor.output(0)
    if np.any(shift != 0):
        bias_shape = [1] * len(out_shape)
        bias_shape[axis] = channels
        if anchor.type_name == "MatMul":
            bias_shape = [channels]
        bias = constant(shift.astype(dtype).reshape(bias_shape), name=unique_name(names, f"{end.name}/bias"))
        names.discard(end.name)
        add = make("Add", anchor.output(0), bias, name=unique_name(names, end.name))
        users.add(add)
        result = add.output(0)
    if not users.replace(end.output(0), result):
        anchor.inputs[1] = old_weights  # a model output would be renamed: leave the chain as it was


def _scale_filters(weights: np.ndarray, scale: np.ndarray, grouped: bool) -> np.ndarray:
    """Return filters scaled per output channel (``[O, I, k...]`` or grouped ``[G, O/G, I/G, k...]``)."""
    if grouped:
        groups = weights.shape[0]
        per_group = scale.reshape(groups, -1)
        return weights * per_group.reshape(per_group.shape + (1,) * (weights.ndim - 2))
    return weights * scale.reshape((-1,) + (1,) * (weights.ndim - 1))


def _affine_step(node: Node, port: Output, rank: int, axis: int, channels: int):
    """Return (a, c) with ``node(y) = a * y + c`` per channel, or None if it is not of that form."""
    if node.output_types[0][0] != port.element_type:
        return None
    if node.type_name == "BatchNormInference":
        return _batch_norm_step(node, port, rank, axis, channels)
    if node.type_name not in ("Multiply", "Divide", "Add", "Subtract") or len(node.inputs) != 2:
        return None
    data_index = 0 if node.inputs[0] == port else 1
    if node.inputs[1 - data_index] == port:
        return None
    value = node.input_value(1 - data_index)
    if value is None or node.output_types[0][1] != port.shape:
        return None
    k = per_channel(value, rank, channels, axis)
    if k is None:
        return None
    k = k.astype(np.float64)
    if node.type_name == "Multiply":
        return k, np.zeros(channels)
    if node.type_name == "Add":
        return np.ones(channels), k
    if data_index != 0:
        return None
    if node.type_name == "Subtract":
        return np.ones(channels), -k
    if np.any(k == 0):
        return None
    return 1 / k, np.zeros(channels)


def _batch_norm_step(node: Node, port: Output, rank: int, axis: int, channels: int):
    if len(node.inputs) != 5 or node.inputs[0] != port or axis != 1:
        return None
    gamma, beta, mean, var = (node.input_value(i) for i in range(1, 5))
    if any(v is None or v.shape != (channels,) for v in (gamma, beta, mean, var)):
        return None
    eps = float(node.attrs["epsilon"])
    a = gamma.astype(np.float64) / np.sqrt(var.astype(np.float64) + eps)
    return a, beta.astype(np.float64) - mean.astype(np.float64) * a
