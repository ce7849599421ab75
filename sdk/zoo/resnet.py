"""ResNet-18/50 (He et al., 2015; torchvision layout): conv-BN-ReLU stems, basic and bottleneck blocks."""

from __future__ import annotations

import onnx
from kiln.zoo.onnx_graph import OnnxGraph


def _conv_bn(g: OnnxGraph, x: str, c_in: int, c_out: int, kernel: int, stride: int, relu: bool) -> str:
    y = g.batch_norm(g.conv(x, c_in, c_out, kernel, stride, bias=False), c_out)
    return g.op("Relu", [y]) if relu else y


def _basic(g: OnnxGraph, x: str, c_in: int, width: int, stride: int) -> tuple[str, int]:
    y = _conv_bn(g, x, c_in, width, 3, stride, True)
    y = _conv_bn(g, y, width, width, 3, 1, False)
    short = x if stride == 1 and c_in == width else _conv_bn(g, x, c_in, width, 1, stride, False)
    return g.op("Relu", [g.op("Add", [y, short])]), width


def _bottleneck(g: OnnxGraph, x: str, c_in: int, width: int, stride: int) -> tuple[str, int]:
    c_out = width * 4
    y = _conv_bn(g, x, c_in, width, 1, 1, True)
    y = _conv_bn(g, y, width, width, 3, stride, True)
    y = _conv_bn(g, y, width, c_out, 1, 1, False)
    short = x if stride == 1 and c_in == c_out else _conv_bn(g, x, c_in, c_out, 1, stride, False)
    return g.op("Relu", [g.op("Add", [y, short])]), c_out


def resnet(depth: int, batch: int = 1, image: int = 224, classes: int = 1000, seed: int = 0
           ) -> onnx.ModelProto:
    """Return ResNet-``depth`` (18 or 50) for ``[batch, 3, image, image]`` f32 input, softmax output."""
    blocks = {18: (_basic, [2, 2, 2, 2]), 50: (_bottleneck, [3, 4, 6, 3])}
    if depth not in blocks:
        raise ValueError(f"ResNet depth {depth} is not built (choose 18 or 50)")
    block, counts = blocks[depth]
    g = OnnxGraph(f"resnet{depth}", seed)
    x = g.input("input", [batch, 3, image, image])
    x = _conv_bn(g, x, 3, 64, 7, 2, True)
    x = g.op("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    channels = 64
    for stage, count in enumerate(counts):
        for i in range(count):
            x, channels = block(g, x, channels, 64 * 2 ** stage, 2 if i == 0 and stage > 0 else 1)
    x = g.op("GlobalAveragePool", [x])
    x = g.op("Flatten", [x], axis=1)
    x = g.linear(x, channels, classes)
    g.nodes.append(onnx.helper.make_node("Softmax", [x], ["probabilities"], name="softmax", axis=-1))
    g.output("probabilities", [batch, classes])
    return g.model()
