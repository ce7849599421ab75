"""OpenVINO layers Kiln has no op for, read as an exact composition of Kiln ops.

OpenVINO's converter fuses some patterns into ops of its own (attention into
``ScaledDotProductAttention``, channel shuffles into ``ShuffleChannels``). The reader
rebuilds each from the ops it was fused from, so Kiln runs such files; writing the model
back gives the decomposed form (which OpenVINO reads too). A decomposition is used only
while Kiln's IR lacks the op itself.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from kiln.errors import UnsupportedOpError
from kiln.ir import AttrKind, ElementType, Node, Output, constant
from kiln.ir.graph import make
from kiln.serialize.attribute_text import parse_attribute


def _check_attributes(data: dict[str, str], known: set[str], where: str) -> None:
    unknown = set(data) - known
    if unknown:
        raise UnsupportedOpError(f"{where}: attribute(s) {sorted(unknown)} are not supported "
                                 f"(known: {sorted(known)})")


def scaled_dot_product_attention(inputs: list[Output], data: dict[str, str], name: str, where: str) -> Node:
    """Return ``softmax(Q K^T * scale + mask) V`` (opset13 semantics) built from MatMul/Softmax.

    Inputs: query ``[..., L, E]``, key ``[..., S, E]``, value ``[..., S, Ev]``, optional
    attention mask (boolean: True attends; float: added) and scale (default
    ``1 / sqrt(E)``, E static). ``causal="true"`` ignores the mask and masks key
    positions after the query's (top-left aligned).
    """
    if not 3 <= len(inputs) <= 5:
        raise UnsupportedOpError(f"{where}: takes 3 to 5 inputs, got {len(inputs)}")
    query, key, value = inputs[:3]
    etype = query.element_type
    _check_attributes(data, {"causal"}, where)
    causal = parse_attribute(AttrKind.BOOL, data.get("causal", "false"), False,
                             f"{where}: attribute 'causal'")
    if len(inputs) == 5:
        scale = inputs[4]
    else:
        depth = None if query.shape is None else query.shape[-1]
        if depth is None:
            raise UnsupportedOpError(f"{where}: the default scale needs a static query depth, got "
                                     f"shape {query.shape}")
        scale = constant(np.array(1 / math.sqrt(depth), dtype=etype.numpy), name=f"{name}/scale")
    scaled = make("Multiply", query, scale, name=f"{name}/scaled_query").output(0)
    scores = make("MatMul", scaled, key, transpose_b=True, name=f"{name}/scores").output(0)
    if causal:
        rows, cols = (None, None) if scores.shape is None else scores.shape[-2:]
        if rows is None or cols is None:
            raise UnsupportedOpError(f"{where}: causal attention needs static query and key lengths")
        future = np.triu(np.ones((rows, cols), dtype=bool), k=1)
        mask = constant(np.where(future, -np.inf, 0).astype(etype.numpy), name=f"{name}/causal_mask")
        scores = make("Add", scores, mask, name=f"{name}/masked").output(0)
    elif len(inputs) >= 4:
        mask = inputs[3]
        if mask.element_type is ElementType.boolean:
            zero = constant(np.array(0, dtype=etype.numpy), name=f"{name}/zero")
            minus_inf = constant(np.array(-np.inf, dtype=etype.numpy), name=f"{name}/minus_inf")
            mask = make("Select", mask, zero, minus_inf, name=f"{name}/mask").output(0)
        scores = make("Add", scores, mask, name=f"{name}/masked").output(0)
    weights = make("Softmax", scores, axis=-1, name=f"{name}/softmax").output(0)
    return make("MatMul", weights, value, name=name)


def shuffle_channels(inputs: list[Output], data: dict[str, str], name: str, where: str) -> Node:
    """Return ``Reshape -> Transpose -> Reshape`` shuffling ``group`` groups of channels on ``axis``."""
    if len(inputs) != 1:
        raise UnsupportedOpError(f"{where}: takes 1 input, got {len(inputs)}")
    (source,) = inputs
    _check_attributes(data, {"axis", "group"}, where)
    axis = parse_attribute(AttrKind.INT, data.get("axis", "1"), 1, f"{where}: attribute 'axis'")
    group = parse_attribute(AttrKind.INT, data.get("group", "1"), 1, f"{where}: attribute 'group'")
    shape = source.shape
    if shape is None or any(d is None for d in shape):
        raise UnsupportedOpError(f"{where}: needs a static input shape, got {shape}")
    axis %= len(shape)
    channels = shape[axis]
    if group < 1 or channels % group:
        raise UnsupportedOpError(f"{where}: {channels} channels do not split into {group} groups")
    split = list(shape[:axis]) + [group, channels // group] + list(shape[axis + 1:])
    order = list(range(len(split)))
    order[axis], order[axis + 1] = order[axis + 1], order[axis]
    grouped = make("Reshape", source, constant(np.array(split, np.int64), name=f"{name}/split_shape"),
                   special_zero=False, name=f"{name}/split").output(0)
    swapped = make("Transpose", grouped, constant(np.array(order, np.int64), name=f"{name}/order"),
                   name=f"{name}/swap").output(0)
    return make("Reshape", swapped, constant(np.array(shape, np.int64), name=f"{name}/shape"),
                special_zero=False, name=name)


DECOMPOSITIONS: dict[tuple[str, str], Callable[[list[Output], dict[str, str], str, str], Node]] = {
    ("ScaledDotProductAttention", "opset13"): scaled_dot_product_attention,
    ("ShuffleChannels", "opset1"): shuffle_channels,
}
"""(layer type, version) -> builder(inputs, data attributes, layer name, where) returning the output node."""
