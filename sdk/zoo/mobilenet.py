"""MobileNetV2 (Sandler et al., 2018): inverted residual blocks with ReLU6 (Clip) and depthwise convs."""

from __future__ import annotations

import numpy as np
import onnx
from kiln.zoo.onnx_graph import OnnxGraph

# expansion t, output channels c, repeats n, first stride s (the paper's Table 2)
SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
            (6, 320, 1, 1)]


def _relu6(g: OnnxGraph, x: str) -> str:
    return g.op("Clip", [x, g.const(np.float32(0.0), "zero"), g.const(np.float32(6.0), "six")])


def _conv_bn(g: OnnxGraph, x: str, c_in: int, c_out: int, kernel: int, stride: int, groups: int = 1,
             act: bool = True) -> str:
    y = g.batch_norm(g.conv(x, c_in, c_out, kernel, stride, groups, bias=False), c_out)
    return _relu6(g, y) if act else y


def inverted_residual(g: OnnxGraph, x: str, c_in: int, c_out: int, stride: int, expand: int) -> str:
    """Add one block: 1x1 expand, 3x3 depthwise, 1x1 project, residual when shapes match."""
    hidden = c_in * expand
    y = _conv_bn(g, x, c_in, hidden, 1, 1) if expand != 1 else x
    y = _conv_bn(g, y, hidden, hidden, 3, stride, groups=hidden)
    y = _conv_bn(g, y, hidden, c_out, 1, 1, act=False)
    return g.op("Add", [x, y]) if stride == 1 and c_in == c_out else y


def mobilenet_v2(batch: int = 1, image: int = 224, classes: int = 1000, seed: int = 0) -> onnx.ModelProto:
    """Return MobileNetV2 (width 1.0) for ``[batch, 3, image, image]`` f32 input, logits output."""
    g = OnnxGraph("mobilenet_v2", seed)
    x = g.input("input", [batch, 3, image, image])
    x = _conv_bn(g, x, 3, 32, 3, 2)
    channels = 32
    for t, c, n, s in SETTINGS:
        for i in range(n):
            x = inverted_residual(g, x, channels, c, s if i == 0 else 1, t)
            channels = c
    x = _conv_bn(g, x, channels, 1280, 1, 1)
    x = g.op("Flatten", [g.op("GlobalAveragePool", [x])], axis=1)
    x = g.linear(x, 1280, classes)
    g.nodes.append(onnx.helper.make_node("Identity", [x], ["logits"], name="logits"))
    g.output("logits", [batch, classes])
    return g.model()


def mobilenet_v2_block(batch: int = 1, channels: int = 32, size: int = 56, expand: int = 6, seed: int = 0
                       ) -> onnx.ModelProto:
    """Return one stride-1 inverted residual block on ``[batch, channels, size, size]``."""
    g = OnnxGraph("mobilenet_v2_block", seed)
    x = g.input("input", [batch, channels, size, size])
    y = inverted_residual(g, x, channels, channels, 1, expand)
    g.nodes.append(onnx.helper.make_node("Identity", [y], ["output"], name="output"))
    g.output("output", [batch, channels, size, size])
    return g.model()
