"""Float ONNX models for the VPU tests (built in code, seeded), and their calibration data."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper


class _Builder:
    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.inits = []

    def weight(self, name, shape, scale=0.2):
        value = (self.rng.standard_normal(shape) * scale).astype(np.float32)
        self.inits.append(numpy_helper.from_array(value, name))
        return name

    def const(self, name, value):
        self.inits.append(numpy_helper.from_array(np.asarray(value, np.float32), name))
        return name

    def model(self, nodes, name, x_shape, opset=17):
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)
        y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
        graph = helper.make_graph(nodes, name, [x], [y], self.inits)
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def residual_cnn() -> onnx.ModelProto:
    """Conv-ReLU, max pool, a residual block, a strided depthwise conv with ReLU6, 1x1 conv,
    average pooling, global average pooling and a fully connected layer."""
    b = _Builder(1)
    nodes = [
        helper.make_node("Conv", ["x", b.weight("w1", (16, 3, 3, 3)), b.weight("b1", (16,), 0.1)], ["c1"],
                         pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["p1", b.weight("w2", (16, 16, 3, 3), 0.1), b.weight("b2", (16,), 0.1)],
                         ["c2"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("Add", ["r2", "p1"], ["a1"]),
        helper.make_node("Relu", ["a1"], ["r3"]),
        helper.make_node("Conv", ["r3", b.weight("w3", (16, 1, 3, 3), 0.3), b.weight("b3", (16,), 0.1)],
                         ["c3"], pads=[1, 1, 1, 1], group=16, strides=[2, 2]),
        helper.make_node("Clip", ["c3", b.const("lo", 0.0), b.const("hi", 6.0)], ["r4"]),
        helper.make_node("Conv", ["r4", b.weight("w4", (24, 16, 1, 1))], ["c4"]),
        helper.make_node("AveragePool", ["c4"], ["ap"], kernel_shape=[3, 3], strides=[2, 2],
                         pads=[1, 1, 1, 1],
                         count_include_pad=1),
        helper.make_node("GlobalAveragePool", ["ap"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"]),
        helper.make_node("Gemm", ["f", b.weight("wf", (10, 24), 0.3), b.weight("bf", (10,), 0.1)], ["y"],
                         transB=1),
    ]
    return b.model(nodes, "residual_cnn", [1, 3, 32, 32], opset=13)


def transformer_layer(seq: int = 8, width: int = 32, hidden: int = 64) -> onnx.ModelProto:
    """A one-head pre-norm transformer encoder layer as PyTorch exports it."""
    b = _Builder(2)
    d = width
    nodes = [
        helper.make_node("LayerNormalization", ["x", b.const("g1", np.ones(d)), b.const("be1", np.zeros(d))],
                         ["n1"], axis=-1),
        helper.make_node("MatMul", ["n1", b.weight("wq", (d, d))], ["q0"]),
        helper.make_node("Add", ["q0", b.weight("bq", (d,), 0.05)], ["q"]),
        helper.make_node("MatMul", ["n1", b.weight("wk", (d, d))], ["k0"]),
        helper.make_node("Add", ["k0", b.weight("bk", (d,), 0.05)], ["k"]),
        helper.make_node("MatMul", ["n1", b.weight("wv", (d, d))], ["v0"]),
        helper.make_node("Add", ["v0", b.weight("bv", (d,), 0.05)], ["v"]),
        helper.make_node("Transpose", ["k"], ["kt"], perm=[0, 2, 1]),
        helper.make_node("MatMul", ["q", "kt"], ["s0"]),
        helper.make_node("Div", ["s0", b.const("sqrt_d", np.sqrt(d))], ["s"]),
        helper.make_node("Softmax", ["s"], ["p"], axis=-1),
        helper.make_node("MatMul", ["p", "v"], ["att"]),
        helper.make_node("MatMul", ["att", b.weight("wo", (d, d))], ["o0"]),
        helper.make_node("Add", ["o0", b.weight("bo", (d,), 0.05)], ["o"]),
        helper.make_node("Add", ["x", "o"], ["h"]),
        helper.make_node("LayerNormalization", ["h", b.const("g2", np.ones(d)), b.const("be2", np.zeros(d))],
                         ["n2"], axis=-1),
        helper.make_node("MatMul", ["n2", b.weight("w1", (d, hidden))], ["f0"]),
        helper.make_node("Add", ["f0", b.weight("b1", (hidden,), 0.05)], ["f1"]),
        helper.make_node("Div", ["f1", b.const("sqrt2", np.sqrt(2.0))], ["e0"]),
        helper.make_node("Erf", ["e0"], ["e1"]),
        helper.make_node("Add", ["e1", b.const("one", 1.0)], ["e2"]),
        helper.make_node("Mul", ["f1", "e2"], ["e3"]),
        helper.make_node("Mul", ["e3", b.const("half", 0.5)], ["gelu"]),
        helper.make_node("MatMul", ["gelu", b.weight("w2", (hidden, d))], ["f2"]),
        helper.make_node("Add", ["f2", b.weight("b2", (d,), 0.05)], ["f3"]),
        helper.make_node("Add", ["h", "f3"], ["y"]),
    ]
    return b.model(nodes, "transformer_layer", [1, seq, d])


@pytest.fixture(scope="session")
def cnn_proto():
    return residual_cnn()


@pytest.fixture(scope="session")
def transformer_proto():
    return transformer_layer()


def samples(shape, count, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape).astype(np.float32) for _ in range(count)]


@pytest.fixture(scope="session")
def make_samples():
    return samples
