"""Fuse bias and activation into convolutions and matmuls, marked in rt_info.

The graph keeps standard ops (so it still evaluates, serializes and runs on real
OpenVINO unchanged); the pass normalizes each group to
``anchor -> Add(bias constant) -> activation`` and records the group in rt_info:

* the anchor (``Convolution``, ``GroupConvolution``, ``MatMul``) gets
  ``rt_info["kiln_fused"] = "Add,Relu"``: the op types fused after it, in order;
* each fused node gets ``rt_info["kiln_fused_into"] = <anchor name>``.

A bias constant is ``[1, C, 1, ...]`` (output rank) after a convolution and ``[N]``
after a MatMul, and has the anchor's element type.
"""

from __future__ import annotations

import numpy as np
from kiln.ir import Model, Node, Output, constant
from kiln.ir.graph import make
from kiln.passes.rewrite import Consumers, node_names, per_channel, unique_name

ANCHORS = {"Convolution": 1, "GroupConvolution": 1, "MatMul": -1}
"""Op type -> output axis the bias runs along."""

ACTIVATIONS = frozenset({"Relu", "Clamp", "Sigmoid", "Tanh", "HSwish", "HSigmoid", "Swish", "Gelu", "Elu",
                         "Mish", "SoftPlus", "PRelu"})
"""Activations a fused kernel applies to the biased result."""

FUSED = "kiln_fused"
FUSED_INTO = "kiln_fused_into"


def fuse_bias_activation(model: Model) -> Model:
    """Merge the per-channel constant Adds after each anchor into one bias Add and mark the group.

    Rewrites ``model`` in place and returns it.
    """
    users = Consumers(model)
    names = node_names(model)
    for node in model.ordered_nodes():
        if node.type_name in ANCHORS and node.output_types[0][1]:  # a scalar output has no channels
            _fuse(node, users, names)
    return model


def _fuse(anchor: Node, users: Consumers, names: set[str]) -> None:
    out_shape = anchor.output_types[0][1]
    axis = ANCHORS[anchor.type_name] % len(out_shape)
    channels = out_shape[axis]
    etype = anchor.output_types[0][0]
    if channels is None or not etype.is_float:
        return
    port: Output = anchor.output(0)
    adds: list[Node] = []
    total = np.zeros(channels, dtype=np.float64)
    while (consumer := users.only(port)) is not None and consumer.type_name == "Add":
        other = consumer.inputs[1] if consumer.inputs[0] == port else consumer.inputs[0]
        value = other.constant_value()
        bias = None if value is None else per_channel(value, len(out_shape), channels, axis)
        if bias is None or consumer.output_types[0] != anchor.output_types[0]:
            break
        adds.append(consumer)
        total += bias
        port = consumer.output(0)
    members: list[Node] = []
    if adds:
        bias_shape = [channels] if anchor.type_name == "MatMul" else \
            [channels if i == axis else 1 for i in range(len(out_shape))]
        first = adds[0].inputs[1].constant_value()
        if len(adds) == 1 and adds[0].inputs[0] == anchor.output(0) and first.shape == tuple(bias_shape):
            add = adds[0]
        else:
            last = adds[-1]
            normalized = constant(total.astype(etype.numpy).reshape(bias_shape),
                                  name=unique_name(names, f"{last.name}/bias"))
            names.discard(last.name)
            add = make("Add", anchor.output(0), normalized, name=unique_name(names, last.name))
            users.add(add)
            if not users.replace(last.output(0), add.output(0)):
                return
        members.append(add)
        port = add.output(0)
    consumer = users.only(port)
    if consumer is not None and consumer.type_name in ACTIVATIONS and consumer.inputs[0] == port \
            and all(p.constant_value() is not None for p in consumer.inputs[1:]):
        members.append(consumer)
    if members:
        anchor.rt_info[FUSED] = ",".join(m.type_name for m in members)
        for member in members:
            member.rt_info[FUSED_INTO] = anchor.name
