"""ONNX test models (so onnxruntime can be the fp32 oracle): a residual CNN and a transformer layer."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


class _Graph:
    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []

    def init(self, name: str, value: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], name: str, **attrs) -> str:
        self.nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    def conv(self, x: str, cin: int, cout: int, name: str, stride: int = 1, group: int = 1,
             relu: bool = True) -> str:
        w = self.rng.standard_normal((cout, cin // group, 3, 3)) * np.sqrt(2.0 / (9 * cin // group))
        b = self.rng.standard_normal(cout) * 0.1
        y = self.node("Conv", [x, self.init(f"{name}.w", w.astype(np.float32)),
                               self.init(f"{name}.b", b.astype(np.float32))], name,
                      kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[stride, stride], group=group)
        return self.node("Relu", [y], f"{name}_relu") if relu else y

    def linear(self, x: str, cin: int, cout: int, name: str) -> str:
        w = (self.rng.standard_normal((cin, cout)) / np.sqrt(cin)).astype(np.float32)
        b = (self.rng.standard_normal(cout) * 0.05).astype(np.float32)
        y = self.node("MatMul", [x, self.init(f"{name}.w", w)], name)
        return self.node("Add", [y, self.init(f"{name}.b", b)], f"{name}_bias")

    def model(self, name: str, inputs, outputs) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, name, inputs, outputs, self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        onnx.checker.check_model(model)
        return model


def residual_cnn_onnx(seed: int = 0) -> onnx.ModelProto:
    """Return a CNN with strided, depthwise and residual blocks, max and global-average pooling."""
    g = _Graph(seed)
    y = g.conv("input", 3, 16, "stem")
    y = g.conv(y, 16, 32, "down", stride=2)
    skip = y
    y = g.conv(y, 32, 32, "dw", group=32)
    y = g.conv(y, 32, 32, "pw", relu=False)
    y = g.node("Relu", [g.node("Add", [y, skip], "residual")], "residual_relu")
    y = g.conv(y, 32, 32, "down2", stride=2)
    y = g.node("MaxPool", [y], "pool", kernel_shape=[2, 2], strides=[2, 2])
    y = g.node("GlobalAveragePool", [y], "gap")
    y = g.node("Flatten", [y], "flatten", axis=1)
    w = (g.rng.standard_normal((10, 32)) / np.sqrt(32)).astype(np.float32)
    g.nodes.append(helper.make_node("Gemm", [y, g.init("fc.w", w), g.init("fc.b", np.zeros(10, np.float32))],
                                    ["logits"], name="fc", transB=1))
    return g.model("residual_cnn",
                   [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 32, 32])],
                   [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])])


def transformer_onnx(seed: int = 0, tokens: int = 16, width: int = 64, heads: int = 4) -> onnx.ModelProto:
    """Return one pre-norm transformer encoder layer (attention + GELU MLP) on ``[1, tokens, width]``."""
    g = _Graph(seed)
    head = width // heads
    split = g.init("split_shape", np.array([1, tokens, heads, head], np.int64))
    merge = g.init("merge_shape", np.array([1, tokens, width], np.int64))

    def norm(x: str, name: str) -> str:
        gamma = (1 + 0.1 * g.rng.standard_normal(width)).astype(np.float32)
        beta = (0.1 * g.rng.standard_normal(width)).astype(np.float32)
        return g.node("LayerNormalization", [x, g.init(f"{name}.g", gamma), g.init(f"{name}.b", beta)],
                      name, axis=-1, epsilon=1e-5)

    def heads_of(x: str, name: str, perm: list[int]) -> str:
        return g.node("Transpose", [g.node("Reshape", [x, split], f"{name}_split")], f"{name}_heads",
                      perm=perm)

    h = norm("input", "ln1")
    q = heads_of(g.linear(h, width, width, "q"), "q", [0, 2, 1, 3])
    k = heads_of(g.linear(h, width, width, "k"), "k", [0, 2, 3, 1])
    v = heads_of(g.linear(h, width, width, "v"), "v", [0, 2, 1, 3])
    s = g.node("MatMul", [q, k], "scores")
    s = g.node("Mul", [s, g.init("inv_sqrt_d", np.array(1 / np.sqrt(head), np.float32))], "scaled")
    p = g.node("Softmax", [s], "softmax", axis=-1)
    a = g.node("MatMul", [p, v], "context")
    a = g.node("Reshape", [g.node("Transpose", [a], "merge", perm=[0, 2, 1, 3]), merge], "merged")
    x = g.node("Add", ["input", g.linear(a, width, width, "proj")], "attn_residual")
    f = g.linear(norm(x, "ln2"), width, 4 * width, "ffn1")
    f = g.node("Relu", [f], "ffn1_relu")
    f = g.linear(f, 4 * width, width, "ffn2")
    g.nodes.append(helper.make_node("Add", [x, f], ["output"], name="ffn_residual"))
    return g.model("transformer",
                   [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, tokens, width])],
                   [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, tokens, width])])


def qdq_conv_onnx(seed: int = 0, zero_point: int = 0) -> onnx.ModelProto:
    """Return a conv already quantized as ONNX QDQ (what onnxruntime's quantize_static writes):
    int8 per-channel weights through DequantizeLinear, activation QuantizeLinear/DequantizeLinear."""
    g = _Graph(seed)
    w = (g.rng.standard_normal((8, 4, 3, 3)) * 0.3).astype(np.float32)
    ws = (np.abs(w).reshape(8, -1).max(1) / 127).astype(np.float32)
    wq = np.clip(np.rint(w / ws[:, None, None, None]), -127, 127).astype(np.int8)
    xs, xzp = g.init("xs", np.array(0.03, np.float32)), g.init("xzp", np.array(zero_point, np.int8))
    xq = g.node("QuantizeLinear", ["input", xs, xzp], "q_in")
    xd = g.node("DequantizeLinear", [xq, xs, xzp], "dq_in")
    wd = g.node("DequantizeLinear", [g.init("wq", wq), g.init("ws", ws), g.init("wzp", np.zeros(8, np.int8))],
                "dq_w", axis=0)
    y = g.node("Conv", [xd, wd, g.init("b", (0.1 * g.rng.standard_normal(8)).astype(np.float32))], "conv",
               pads=[1, 1, 1, 1])
    g.nodes.append(helper.make_node("Relu", [y], ["output"], name="relu"))
    return g.model("qdq_conv", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 4, 8, 8])],
                   [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 8, 8, 8])])
