"""Small CNN, MobileNet-style, transformer-encoder and MLP models built with onnx.helper, converted
by Kiln, compiled for "CPU" and compared with onnxruntime (rtol 1e-3, atol 1e-4)."""

from __future__ import annotations

import numpy as np
import pytest
from kiln import Core, convert_model
from onnx import TensorProto, helper, numpy_helper

ort = pytest.importorskip("onnxruntime")
pytestmark = pytest.mark.interop

RNG = np.random.default_rng(11)


class GraphBuilder:
    """Collect nodes and initializers of one ONNX graph; ``add`` returns the new tensor's name."""

    def __init__(self):
        self.nodes, self.initializers, self.count = [], [], 0

    def weight(self, *shape, scale=None, value=None, dtype=np.float32):
        self.count += 1
        name = f"w{self.count}"
        if value is None:
            fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else shape[0]
            value = RNG.normal(0, scale or 1 / np.sqrt(fan_in), shape)
        self.initializers.append(numpy_helper.from_array(np.asarray(value, dtype), name))
        return name

    def add(self, op_type, *inputs, outputs=1, **attrs):
        self.count += 1
        names = [f"t{self.count}_{i}" for i in range(outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), names, name=f"{op_type}_{self.count}",
                                           **attrs))
        return names[0] if outputs == 1 else names

    def model(self, inputs, output, opset):
        result = helper.make_tensor_value_info(output, TensorProto.FLOAT, None)
        graph = helper.make_graph(self.nodes, "g", inputs, [result], initializer=self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
        model.ir_version = 8
        return model


def compare_with_onnxruntime(model, feeds):
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    expected = session.run(None, feeds)
    compiled = Core().compile_model(convert_model(model), "CPU")
    got = compiled(feeds)
    for i, e in enumerate(expected):
        assert got[i].shape == e.shape
        np.testing.assert_allclose(got[i], e, rtol=1e-3, atol=1e-4)


def batch_norm(g, x, channels):
    return g.add("BatchNormalization", x, g.weight(channels, value=RNG.uniform(0.5, 1.5, channels)),
                 g.weight(channels, value=RNG.normal(0, 0.1, channels)),
                 g.weight(channels, value=RNG.normal(0, 0.1, channels)),
                 g.weight(channels, value=RNG.uniform(0.5, 1.5, channels)), epsilon=1e-5)


def test_cnn():
    g = GraphBuilder()
    x = g.add("Conv", "image", g.weight(8, 3, 3, 3), g.weight(8, scale=0.1), pads=[1, 1, 1, 1])
    x = g.add("MaxPool", g.add("Relu", x), kernel_shape=[2, 2], strides=[2, 2])
    x = g.add("Conv", x, g.weight(16, 8, 3, 3), strides=[2, 2], pads=[1, 1, 1, 1])
    x = g.add("Relu", batch_norm(g, x, 16))
    x = g.add("AveragePool", x, kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=0)
    x = g.add("Flatten", x, axis=1)
    x = g.add("Gemm", x, g.weight(10, 16 * 4 * 4), g.weight(10, scale=0.1), transB=1)
    y = g.add("Softmax", x, axis=1)
    model = g.model([helper.make_tensor_value_info("image", TensorProto.FLOAT, [2, 3, 32, 32])], y, 13)
    compare_with_onnxruntime(model, {"image": RNG.normal(size=(2, 3, 32, 32)).astype(np.float32)})


def inverted_residual(g, x, channels, expand, se):
    hidden = channels * expand
    h = g.add("Conv", x, g.weight(hidden, channels, 1, 1))
    h = g.add("Clip", batch_norm(g, h, hidden), g.weight(value=0.0), g.weight(value=6.0))
    h = g.add("Conv", h, g.weight(hidden, 1, 3, 3), group=hidden, pads=[1, 1, 1, 1])  # depthwise
    h = g.add("HardSwish", batch_norm(g, h, hidden))
    if se:
        s = g.add("GlobalAveragePool", h)
        s = g.add("Relu", g.add("Conv", s, g.weight(hidden // 4, hidden, 1, 1), g.weight(hidden // 4)))
        s = g.add("HardSigmoid", g.add("Conv", s, g.weight(hidden, hidden // 4, 1, 1), g.weight(hidden)),
                  alpha=1 / 6, beta=0.5)
        h = g.add("Mul", h, s)
    h = batch_norm(g, g.add("Conv", h, g.weight(channels, hidden, 1, 1)), channels)
    return g.add("Add", x, h)


def test_mobilenet_style():
    g = GraphBuilder()
    x = g.add("Conv", "image", g.weight(16, 3, 3, 3), strides=[2, 2], pads=[1, 1, 1, 1])
    x = g.add("HardSwish", batch_norm(g, x, 16))
    x = inverted_residual(g, x, 16, 4, se=False)
    x = inverted_residual(g, x, 16, 3, se=True)
    x = g.add("Conv", x, g.weight(24, 2, 3, 3), group=8, strides=[2, 2], pads=[0, 0, 1, 1])
    x = g.add("Clip", g.add("Relu", x), g.weight(value=0.0), g.weight(value=6.0))
    x = g.add("Flatten", g.add("GlobalAveragePool", x))
    y = g.add("Gemm", x, g.weight(24, 5), g.weight(5))
    model = g.model([helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, 32, 32])], y, 14)
    compare_with_onnxruntime(model, {"image": RNG.normal(size=(3, 3, 32, 32)).astype(np.float32)})


def encoder_layer(g, x, mask_bias, width, heads):
    """One post-norm BERT-style encoder layer as torch.onnx exports it (dynamic batch and sequence)."""
    head = width // heads
    shape = g.add("Shape", x)
    batch = g.add("Gather", shape, g.weight(value=0, dtype=np.int64), axis=0)
    seq = g.add("Gather", shape, g.weight(value=1, dtype=np.int64), axis=0)
    unsq = [g.add("Unsqueeze", d, g.weight(1, value=[0], dtype=np.int64)) for d in (batch, seq)]
    split_shape = g.add("Concat", *unsq, g.weight(2, value=[heads, head], dtype=np.int64), axis=0)

    def project(perm):
        y = g.add("Add", g.add("MatMul", x, g.weight(width, width, scale=width ** -0.5)), g.weight(width))
        return g.add("Transpose", g.add("Reshape", y, split_shape), perm=perm)

    q, k, v = project([0, 2, 1, 3]), project([0, 2, 3, 1]), project([0, 2, 1, 3])
    scores = g.add("Div", g.add("MatMul", q, k), g.weight(value=np.sqrt(head)))
    scores = g.add("Add", scores, mask_bias)
    attn = g.add("MatMul", g.add("Softmax", scores, axis=-1), v)
    merged_shape = g.add("Concat", *unsq, g.weight(1, value=[width], dtype=np.int64), axis=0)
    attn = g.add("Reshape", g.add("Transpose", attn, perm=[0, 2, 1, 3]), merged_shape)
    attn = g.add("Add", g.add("MatMul", attn, g.weight(width, width, scale=width ** -0.5)), g.weight(width))
    x = g.add("LayerNormalization", g.add("Add", x, attn), g.weight(width, value=np.ones(width)),
              g.weight(width, value=np.zeros(width)), axis=-1, epsilon=1e-12)
    h = g.add("Add", g.add("MatMul", x, g.weight(width, 4 * width, scale=width ** -0.5)), g.weight(4 * width))
    erf = g.add("Erf", g.add("Div", h, g.weight(value=np.sqrt(2.0))))
    h = g.add("Mul", g.add("Mul", h, g.add("Add", erf, g.weight(value=1.0))), g.weight(value=0.5))
    h = g.add("MatMul", h, g.weight(4 * width, width, scale=(4 * width) ** -0.5))
    h = g.add("Add", h, g.weight(width))
    gamma = g.weight(width, value=RNG.uniform(0.5, 1.5, width))
    beta = g.weight(width, value=RNG.normal(0, 0.1, width))
    return g.add("LayerNormalization", g.add("Add", x, h), gamma, beta, axis=-1, epsilon=1e-12)


def test_transformer_encoder():
    width, heads, vocab = 32, 4, 50
    g = GraphBuilder()
    x = g.add("Gather", g.weight(vocab, width, scale=1.0), "tokens", axis=0)
    # position embeddings: slice the first `seq` rows of a position table, as BERT exports do
    seq = g.add("Gather", g.add("Shape", "tokens"), g.weight(value=1, dtype=np.int64), axis=0)
    seq = g.add("Unsqueeze", seq, g.weight(1, value=[0], dtype=np.int64))
    positions = g.add("Slice", g.weight(1, 16, value=np.arange(16)[None], dtype=np.int64),
                      g.weight(1, value=[0], dtype=np.int64), seq, g.weight(1, value=[1], dtype=np.int64))
    positions = g.add("Expand", positions, g.add("Shape", "tokens"))
    x = g.add("Add", x, g.add("Gather", g.weight(16, width, scale=0.5), positions, axis=0))
    # attention mask (batch, seq) of 0/1 -> additive bias (batch, 1, 1, seq), as BERT exports do
    mask = g.add("Unsqueeze", g.add("Unsqueeze", "mask", g.weight(1, value=[1], dtype=np.int64)),
                 g.weight(1, value=[2], dtype=np.int64))
    keep = g.add("Cast", mask, to=TensorProto.BOOL)
    bias = g.add("Where", keep, g.weight(value=0.0), g.weight(value=-1e4))
    x = encoder_layer(g, x, bias, width, heads)
    x = encoder_layer(g, x, bias, width, heads)
    pooled = g.add("ReduceMean", x, g.weight(1, value=[1], dtype=np.int64), keepdims=0)
    pooled = g.add("Flatten", pooled, axis=1)
    y = g.add("Gelu", g.add("Gemm", pooled, g.weight(width, width), g.weight(width)), approximate="none")
    inputs = [helper.make_tensor_value_info("tokens", TensorProto.INT64, ["batch", "seq"]),
              helper.make_tensor_value_info("mask", TensorProto.INT64, ["batch", "seq"])]
    model = g.model(inputs, y, 20)
    tokens = RNG.integers(0, vocab, (2, 7)).astype(np.int64)
    mask = np.ones((2, 7), np.int64)
    mask[1, 5:] = 0
    compare_with_onnxruntime(model, {"tokens": tokens, "mask": mask})


def test_mlp():
    g = GraphBuilder()
    x = g.add("Relu", g.add("Gemm", "features", g.weight(20, 64), g.weight(64)))
    x = g.add("Tanh", g.add("Add", g.add("MatMul", x, g.weight(64, 32)), g.weight(32)))
    x = g.add("Sigmoid", g.add("Gemm", x, g.weight(16, 32), g.weight(16), transB=1, alpha=0.5, beta=2.0))
    x = g.add("LeakyRelu", g.add("Sub", x, g.weight(value=0.5)), alpha=0.2)
    y = g.add("LogSoftmax", g.add("MatMul", x, g.weight(16, 4)), axis=-1)
    model = g.model([helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", 20])], y, 13)
    compare_with_onnxruntime(model, {"features": RNG.normal(size=(5, 20)).astype(np.float32)})


def test_qdq_quantized_cnn():
    """A QDQ model as onnxruntime's quantization tool writes it: u8 activations, per-channel i8 weights."""
    g = GraphBuilder()

    def qdq(x, scale, zero_point):
        s, z = g.weight(value=scale), g.weight(value=zero_point, dtype=np.uint8)
        return g.add("DequantizeLinear", g.add("QuantizeLinear", x, s, z), s, z)

    def weight(*shape):
        w = RNG.normal(0, 0.3, shape)
        scale = np.abs(w).reshape(shape[0], -1).max(axis=1) / 127
        q = np.clip(np.round(w / scale.reshape(-1, *[1] * (len(shape) - 1))), -127, 127)
        zero_point = g.weight(shape[0], value=np.zeros(shape[0]), dtype=np.int8)
        levels = g.weight(*shape, value=q, dtype=np.int8)
        return g.add("DequantizeLinear", levels, g.weight(shape[0], value=scale), zero_point, axis=0)

    x = qdq("image", 0.02, 128)
    x = g.add("Relu", g.add("Conv", x, weight(8, 3, 3, 3), g.weight(8, scale=0.1), pads=[1, 1, 1, 1]))
    x = qdq(x, 0.03, 0)
    x = g.add("Conv", x, weight(8, 1, 3, 3), group=8, strides=[2, 2], pads=[1, 1, 1, 1])
    x = qdq(g.add("Relu", x), 0.03, 0)
    x = g.add("Flatten", g.add("GlobalAveragePool", x))
    y = g.add("Gemm", x, weight(4, 8), g.weight(4, scale=0.1), transB=1)
    model = g.model([helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 16, 16])], y, 13)
    compare_with_onnxruntime(model, {"image": RNG.uniform(-2, 2, (1, 3, 16, 16)).astype(np.float32)})
