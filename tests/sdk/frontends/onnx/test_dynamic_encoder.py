"""A transformer encoder block built the way PyTorch exports it (Shape/Gather/Concat/Reshape
shape arithmetic on dynamic batch and sequence axes), checked against onnx.reference."""

import numpy as np
import pytest
from kiln import Core, convert_model
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

VOCAB, POSITIONS, WIDTH, HEADS = 50, 16, 8, 2


def encoder_model():
    rng = np.random.default_rng(7)
    weights = {
        "table": rng.normal(size=(VOCAB, WIDTH)).astype(np.float32),
        "positions": rng.normal(size=(POSITIONS, WIDTH)).astype(np.float32),
        "wq": rng.normal(size=(WIDTH, WIDTH)).astype(np.float32) / 3,
        "wk": rng.normal(size=(WIDTH, WIDTH)).astype(np.float32) / 3,
        "wv": rng.normal(size=(WIDTH, WIDTH)).astype(np.float32) / 3,
        "zero": np.int64(0), "one": np.int64(1), "axis0": np.array([0], np.int64),
        "heads": np.array([HEADS], np.int64), "head_width": np.array([WIDTH // HEADS], np.int64),
        "width": np.array([WIDTH], np.int64), "scale": np.float32(1 / np.sqrt(WIDTH // HEADS)),
        "big": np.float32(-1e9), "fone": np.float32(1), "axes12": np.array([1, 2], np.int64),
    }
    n = helper.make_node
    nodes = [
        n("Gather", ["table", "ids"], ["emb"]),
        n("Shape", ["ids"], ["ids_shape"]),
        n("Gather", ["ids_shape", "one"], ["seq"], axis=0),
        n("Gather", ["ids_shape", "zero"], ["batch"], axis=0),
        n("Range", ["zero", "seq", "one"], ["pos"]),
        n("Gather", ["positions", "pos"], ["pos_emb"]),
        n("Add", ["emb", "pos_emb"], ["x"]),
        n("Unsqueeze", ["batch", "axis0"], ["b1"]),
        n("Unsqueeze", ["seq", "axis0"], ["s1"]),
        n("Concat", ["b1", "s1", "heads", "head_width"], ["split_shape"], axis=0),
        n("Concat", ["b1", "s1", "width"], ["merge_shape"], axis=0),
    ]
    for name in ("q", "k", "v"):
        nodes += [
            n("MatMul", ["x", f"w{name}"], [f"{name}_flat"]),
            n("Reshape", [f"{name}_flat", "split_shape"], [f"{name}_heads"]),
            n("Transpose", [f"{name}_heads"], [name], perm=[0, 2, 1, 3]),
        ]
    nodes += [
        n("Transpose", ["k"], ["kt"], perm=[0, 1, 3, 2]),
        n("MatMul", ["q", "kt"], ["raw"]),
        n("Mul", ["raw", "scale"], ["scaled"]),
        n("Unsqueeze", ["mask", "axes12"], ["mask4"]),
        n("Cast", ["mask4"], ["maskf"], to=TensorProto.FLOAT),
        n("Sub", ["fone", "maskf"], ["inverted"]),
        n("Mul", ["inverted", "big"], ["bias"]),
        n("Add", ["scaled", "bias"], ["biased"]),
        n("Softmax", ["biased"], ["probs"], axis=-1),
        n("MatMul", ["probs", "v"], ["context"]),
        n("Transpose", ["context"], ["context_t"], perm=[0, 2, 1, 3]),
        n("Reshape", ["context_t", "merge_shape"], ["merged"]),
        n("Equal", ["ids", "zero"], ["padding"]),
        n("Unsqueeze", ["padding", "minus1"], ["padding3"]),
        n("Where", ["padding3", "fzero", "merged"], ["out"]),
    ]
    weights["minus1"] = np.array([-1], np.int64)
    weights["fzero"] = np.float32(0)
    graph = helper.make_graph(
        nodes, "encoder",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", "seq"]),
         helper.make_tensor_value_info("mask", TensorProto.INT64, ["batch", "seq"])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["batch", "seq", WIDTH])],
        initializer=[numpy_helper.from_array(np.asarray(v), name=k) for k, v in weights.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def feeds(batch, seq):
    rng = np.random.default_rng(batch * 100 + seq)
    ids = rng.integers(1, VOCAB, size=(batch, seq))
    ids[:, -1] = 0
    mask = (ids != 0).astype(np.int64)
    return {"ids": ids, "mask": mask}


def test_shapes_stay_symbolic_through_export_style_shape_arithmetic():
    model = convert_model(encoder_model())
    assert model.outputs[0].shape == (None, None, WIDTH)
    model.reshape({"ids": [2, 5], "mask": [2, 5]})
    assert model.outputs[0].shape == (2, 5, WIDTH)


@pytest.mark.parametrize("batch,seq", [(1, 3), (3, 7)])
def test_matches_onnx_reference_for_any_batch_and_length(batch, seq):
    proto = encoder_model()
    compiled = Core().compile_model(convert_model(proto), "CPU")
    data = feeds(batch, seq)
    expected = ReferenceEvaluator(proto).run(None, data)[0]
    np.testing.assert_allclose(compiled(data)["out"], expected, rtol=1e-4, atol=1e-5)
