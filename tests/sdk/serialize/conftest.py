"""Shared checks of the IR serialization tests: model equality, bit-exact constants."""

from __future__ import annotations

import numpy as np
import pytest
from kiln.ir import ElementType, Model


def _same_value(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        if a.dtype != b.dtype or a.shape != b.shape:
            return False
        if a.dtype == object:
            return a.tolist() == b.tolist()
        return a.tobytes() == b.tobytes()
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float) and np.isnan(a) and np.isnan(b):
        return True
    if isinstance(a, ElementType) or isinstance(b, ElementType):
        return a is b
    return a == b


def same_model(a: Model, b: Model) -> None:
    """Assert that two models have the same graph, attributes, bit-exact constants and names."""
    assert a.name == b.name
    assert a.rt_info == b.rt_info
    assert a.input_names == b.input_names and a.output_names == b.output_names
    nodes_a, nodes_b = a.ordered_nodes(), b.ordered_nodes()
    assert [n.type_name for n in nodes_a] == [n.type_name for n in nodes_b]
    index_a = {id(n): i for i, n in enumerate(nodes_a)}
    index_b = {id(n): i for i, n in enumerate(nodes_b)}
    for x, y in zip(nodes_a, nodes_b):
        where = f"node {x.name!r} ({x.type_name})"
        assert x.name == y.name, where
        assert set(x.attrs) == set(y.attrs), where
        for key in x.attrs:
            assert _same_value(x.attrs[key], y.attrs[key]), f"{where}: attribute {key}: " \
                f"{x.attrs[key]!r} != {y.attrs[key]!r}"
        assert x.output_types == y.output_types, where
        assert x.output_names == y.output_names, where
        assert x.rt_info == y.rt_info, where
        assert [(index_a[id(p.node)], p.index) for p in x.inputs] == \
            [(index_b[id(p.node)], p.index) for p in y.inputs], where


@pytest.fixture
def assert_same_model():
    """Return ``check(a, b)`` asserting graph, attributes, constants (bit-exact) and names are equal."""
    return same_model


def _init(rng, name, shape, scale=0.3):
    from onnx import numpy_helper

    return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)


def cnn_onnx():
    """Return a small CNN: Conv+BN+Relu, MaxPool, depthwise Conv+BN+Clip, GAP, Flatten, Gemm, Softmax."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(10)
    inits = [_init(rng, "w1", (8, 3, 3, 3)), _init(rng, "b1", (8,)), _init(rng, "w2", (8, 1, 3, 3)),
             _init(rng, "fc_w", (5, 8)), _init(rng, "fc_b", (5,))]
    for prefix in ("bn1", "bn2"):
        inits += [_init(rng, f"{prefix}_{part}", (8,)) for part in ("s", "b", "m")]
        inits += [numpy_helper.from_array(rng.uniform(0.5, 2, 8).astype(np.float32), f"{prefix}_v")]
    inits += [numpy_helper.from_array(np.float32(0), "lo"), numpy_helper.from_array(np.float32(6), "hi")]
    node = helper.make_node
    nodes = [
        node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1], name="conv1"),
        node("BatchNormalization", ["c1", "bn1_s", "bn1_b", "bn1_m", "bn1_v"], ["n1"], name="bn1"),
        node("Relu", ["n1"], ["r1"], name="relu1"),
        node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2], name="pool"),
        node("Conv", ["p1", "w2"], ["c2"], pads=[1, 1, 1, 1], group=8, name="dwconv"),
        node("BatchNormalization", ["c2", "bn2_s", "bn2_b", "bn2_m", "bn2_v"], ["n2"], name="bn2"),
        node("Clip", ["n2", "lo", "hi"], ["r2"], name="relu6"),
        node("GlobalAveragePool", ["r2"], ["g"], name="gap"),
        node("Flatten", ["g"], ["f"], name="flatten"),
        node("Gemm", ["f", "fc_w", "fc_b"], ["logits"], transB=1, name="fc"),
        node("Softmax", ["logits"], ["probs"], axis=-1, name="softmax"),
    ]
    graph = helper.make_graph(nodes, "cnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                           ["N", 3, 16, 16])],
                              [helper.make_tensor_value_info("probs", TensorProto.FLOAT, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def transformer_onnx():
    """Return one pre-norm transformer encoder block (2 heads) with a dynamic batch and sequence."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(11)
    d, heads, hidden = 8, 2, 16
    inits = [_init(rng, n, s) for n, s in [
        ("wq", (d, d)), ("wk", (d, d)), ("wv", (d, d)), ("wo", (d, d)), ("bq", (d,)), ("bk", (d,)),
        ("bv", (d,)), ("w_up", (d, hidden)), ("b_up", (hidden,)), ("w_down", (hidden, d)), ("b_down", (d,))]]
    inits += [numpy_helper.from_array(np.ones(d, np.float32), "ln_g"),
              numpy_helper.from_array(np.zeros(d, np.float32), "ln_b"),
              numpy_helper.from_array(np.array([0, 0, heads, d // heads], np.int64), "split_heads"),
              numpy_helper.from_array(np.array([0, 0, d], np.int64), "merge_heads"),
              numpy_helper.from_array(np.float32(np.sqrt(d // heads)), "scale"),
              numpy_helper.from_array(np.float32(np.sqrt(2)), "sqrt2"),
              numpy_helper.from_array(np.float32(1), "one"), numpy_helper.from_array(np.float32(0.5), "half")]
    node = helper.make_node
    nodes = [node("LayerNormalization", ["x", "ln_g", "ln_b"], ["ln1"], axis=-1, epsilon=1e-5, name="ln1")]
    for name in ("q", "k", "v"):
        nodes += [node("MatMul", ["ln1", f"w{name}"], [f"{name}_mm"], name=f"{name}_proj"),
                  node("Add", [f"{name}_mm", f"b{name}"], [f"{name}_b"], name=f"{name}_bias"),
                  node("Reshape", [f"{name}_b", "split_heads"], [f"{name}_h"], name=f"{name}_split"),
                  node("Transpose", [f"{name}_h"], [f"{name}_t"],
                       perm=[0, 2, 3, 1] if name == "k" else [0, 2, 1, 3], name=f"{name}_perm")]
    nodes += [
        node("MatMul", ["q_t", "k_t"], ["scores"], name="qk"),
        node("Div", ["scores", "scale"], ["scaled"], name="scale"),
        node("Softmax", ["scaled"], ["attn"], axis=-1, name="attn"),
        node("MatMul", ["attn", "v_t"], ["ctx"], name="av"),
        node("Transpose", ["ctx"], ["ctx_t"], perm=[0, 2, 1, 3], name="ctx_perm"),
        node("Reshape", ["ctx_t", "merge_heads"], ["ctx_m"], name="merge"),
        node("MatMul", ["ctx_m", "wo"], ["o"], name="o_proj"),
        node("Add", ["x", "o"], ["res1"], name="residual1"),
        node("LayerNormalization", ["res1", "ln_g", "ln_b"], ["ln2"], axis=-1, epsilon=1e-5, name="ln2"),
        node("MatMul", ["ln2", "w_up"], ["up"], name="up"),
        node("Add", ["up", "b_up"], ["up_b"], name="up_bias"),
        node("Div", ["up_b", "sqrt2"], ["gx"], name="gelu_div"),
        node("Erf", ["gx"], ["ge"], name="gelu_erf"),
        node("Add", ["ge", "one"], ["g1"], name="gelu_add"),
        node("Mul", ["up_b", "g1"], ["g2"], name="gelu_mul"),
        node("Mul", ["g2", "half"], ["gelu"], name="gelu_half"),
        node("MatMul", ["gelu", "w_down"], ["down"], name="down"),
        node("Add", ["down", "b_down"], ["down_b"], name="down_bias"),
        node("Add", ["res1", "down_b"], ["y"], name="residual2"),
    ]
    graph = helper.make_graph(nodes, "encoder", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                               ["B", "T", d])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def mlp_onnx():
    """Return an MLP with two inputs: Concat, Gemm+Relu, Dropout (inference), Gemm, Sigmoid, Identity."""
    from onnx import TensorProto, helper

    rng = np.random.default_rng(12)
    inits = [_init(rng, n, s) for n, s in [("w1", (10, 16)), ("b1", (16,)), ("w2", (16, 3)), ("b2", (3,))]]
    node = helper.make_node
    nodes = [node("Concat", ["a", "b"], ["ab"], axis=1, name="concat"),
             node("Gemm", ["ab", "w1", "b1"], ["h"], name="fc1"),
             node("Relu", ["h"], ["hr"], name="relu"),
             node("Dropout", ["hr"], ["hd"], name="dropout"),
             node("Gemm", ["hd", "w2", "b2"], ["z"], alpha=0.5, name="fc2"),
             node("Sigmoid", ["z"], ["score"], name="sigmoid"),
             node("Identity", ["hr"], ["features"], name="identity")]
    inputs = [helper.make_tensor_value_info("a", TensorProto.FLOAT, ["N", 4]),
              helper.make_tensor_value_info("b", TensorProto.FLOAT, ["N", 6])]
    outputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("score", "features")]
    graph = helper.make_graph(nodes, "mlp", inputs, outputs, inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


ONNX_MODELS = {"cnn": cnn_onnx, "transformer": transformer_onnx, "mlp": mlp_onnx}


@pytest.fixture(params=sorted(ONNX_MODELS))
def onnx_model(request, tmp_path):
    """Yield (path of a small ONNX model written to tmp_path, example inputs with batch 2)."""
    import onnx

    proto = ONNX_MODELS[request.param]()
    path = tmp_path / f"{request.param}.onnx"
    onnx.save(proto, path)
    rng = np.random.default_rng(5)
    feeds = {}
    for value_info in proto.graph.input:
        dims = [d.dim_value if d.HasField("dim_value") else (2 if i == 0 else 5)
                for i, d in enumerate(value_info.type.tensor_type.shape.dim)]
        feeds[value_info.name] = rng.standard_normal(dims).astype(np.float32)
    return path, feeds
