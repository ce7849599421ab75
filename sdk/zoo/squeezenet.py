"""SqueezeNet 1.1 (Iandola et al., 2016): fire modules (1x1 squeeze, 1x1 + 3x3 expand, concat)."""

from __future__ import annotations

import onnx
from kiln.zoo.onnx_graph import OnnxGraph

FIRES = [(16, 64), (16, 64), "pool", (32, 128), (32, 128), "pool", (48, 192), (48, 192), (64, 256),
         (64, 256)]
"""(squeeze, expand) channels per fire module; "pool" marks a 3x3/2 max pool."""


def _fire(g: OnnxGraph, x: str, c_in: int, squeeze: int, expand: int) -> str:
    s = g.op("Relu", [g.conv(x, c_in, squeeze, 1)])
    e1 = g.op("Relu", [g.conv(s, squeeze, expand, 1)])
    e3 = g.op("Relu", [g.conv(s, squeeze, expand, 3)])
    return g.op("Concat", [e1, e3], axis=1)


def squeezenet(batch: int = 1, image: int = 224, classes: int = 1000, seed: int = 0) -> onnx.ModelProto:
    """Return SqueezeNet 1.1 for ``[batch, 3, image, image]`` f32 input, softmax output."""
    g = OnnxGraph("squeezenet", seed)
    x = g.input("input", [batch, 3, image, image])
    x = g.op("Relu", [g.conv(x, 3, 64, 3, 2)])
    x = g.op("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2])
    channels = 64
    for fire in FIRES:
        if fire == "pool":
            x = g.op("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2])
            continue
        x = _fire(g, x, channels, *fire)
        channels = 2 * fire[1]
    x = g.op("Relu", [g.conv(x, channels, classes, 1)])
    x = g.op("Flatten", [g.op("GlobalAveragePool", [x])], axis=1)
    g.nodes.append(onnx.helper.make_node("Softmax", [x], ["probabilities"], name="softmax", axis=-1))
    g.output("probabilities", [batch, classes])
    return g.model()
