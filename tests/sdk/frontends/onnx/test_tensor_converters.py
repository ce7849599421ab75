"""ONNX shape/indexing/reduction/control-flow converters, checked against onnx.reference."""

import numpy as np
import onnx
import pytest
from kiln import Core, convert_model
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

F = TensorProto.FLOAT
I64 = TensorProto.INT64


def model(nodes, inputs, outputs, opset, initializers=()):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    proto.ir_version = 8
    return proto


def check(proto, feeds, rtol=1e-5):
    """Run ``proto`` on Kiln's CPU device and on onnx.reference; compare every output."""
    expected = ReferenceEvaluator(proto).run(None, feeds)
    compiled = Core().compile_model(convert_model(proto), "CPU")
    result = compiled(feeds)
    for index, want in enumerate(expected):
        got = result[index]
        assert got.dtype == want.dtype and got.shape == want.shape, (index, got.dtype, got.shape, want.shape)
        np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-6)


def vi(name, etype, shape):
    return helper.make_tensor_value_info(name, etype, shape)


def test_dynamic_batch_flatten_gather_shape():
    """PyTorch-style shape arithmetic on a dynamic batch: Shape -> Gather -> Concat -> Reshape."""
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Gather", ["s", "zero"], ["b"], axis=0),
        helper.make_node("Unsqueeze", ["b", "axes0"], ["b1"]),
        helper.make_node("Concat", ["b1", "minus1"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["flat"]),
        helper.make_node("Flatten", ["x"], ["y"], axis=2),
    ]
    inits = [helper.make_tensor("zero", I64, [], [0]), helper.make_tensor("axes0", I64, [1], [0]),
             helper.make_tensor("minus1", I64, [1], [-1])]
    proto = model(nodes, [vi("x", F, ["N", 3, 4])], [vi("flat", F, None), vi("y", F, None)], 17, inits)
    converted = convert_model(proto)
    assert converted.outputs[0].shape == (None, 12)
    assert converted.outputs[1].shape == (None, 4)
    check(proto, {"x": np.random.default_rng(0).random((5, 3, 4), dtype=np.float32)})


@pytest.mark.parametrize("opset", [11, 13, 18])
def test_split_by_opset(opset):
    x = vi("x", F, [2, 6])
    if opset < 13:
        node = helper.make_node("Split", ["x"], ["a", "b"], axis=1, split=[2, 4])
        inits = []
    elif opset < 18:
        node = helper.make_node("Split", ["x", "split"], ["a", "b"], axis=1)
        inits = [helper.make_tensor("split", I64, [2], [2, 4])]
    else:
        node = helper.make_node("Split", ["x"], ["a", "b"], axis=1, num_outputs=2)
        inits = []
    proto = model([node], [x], [vi("a", F, None), vi("b", F, None)], opset, inits)
    check(proto, {"x": np.arange(12, dtype=np.float32).reshape(2, 6)})


@pytest.mark.parametrize("opset", [11, 13, 18])
@pytest.mark.parametrize("op", ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceL2", "ReduceLogSumExp",
                                "ReduceSumSquare"])
def test_reductions_by_opset(op, opset):
    axes_as_input = opset >= 18 or (op == "ReduceSum" and opset >= 13)
    if axes_as_input:
        node = helper.make_node(op, ["x", "axes"], ["y"], keepdims=0)
        inits = [helper.make_tensor("axes", I64, [2], [0, -1])]
    else:
        node = helper.make_node(op, ["x"], ["y"], axes=[0, -1], keepdims=0)
        inits = []
    proto = model([node], [vi("x", F, [2, 3, 4])], [vi("y", F, None)], opset, inits)
    check(proto, {"x": np.random.default_rng(2).random((2, 3, 4), dtype=np.float32)}, rtol=1e-4)


def test_argmax_select_last_index():
    node = helper.make_node("ArgMax", ["x"], ["y"], axis=1, keepdims=0, select_last_index=1)
    proto = model([node], [vi("x", F, [2, 4])], [vi("y", I64, None)], 13)
    check(proto, {"x": np.float32([[1, 3, 3, 0], [5, 5, 1, 5]])})


def test_slice_pad_where_expand_tile():
    nodes = [
        helper.make_node("Slice", ["x", "starts", "ends", "axes", "steps"], ["s"]),
        helper.make_node("Pad", ["s", "pads"], ["p"], mode="reflect"),
        helper.make_node("Greater", ["p", "half"], ["mask"]),
        helper.make_node("Where", ["mask", "p", "half"], ["w"]),
        helper.make_node("Expand", ["w", "shape"], ["e"]),
        helper.make_node("Tile", ["e", "reps"], ["y"]),
    ]
    inits = [helper.make_tensor("starts", I64, [1], [-1]), helper.make_tensor("ends", I64, [1], [-100]),
             helper.make_tensor("axes", I64, [1], [1]), helper.make_tensor("steps", I64, [1], [-2]),
             helper.make_tensor("pads", I64, [4], [0, 1, 0, 1]), helper.make_tensor("half", F, [], [0.5]),
             helper.make_tensor("shape", I64, [3], [2, 1, 1]),
             helper.make_tensor("reps", I64, [3], [1, 2, 1])]
    proto = model(nodes, [vi("x", F, [3, 7])], [vi("y", F, None)], 13, inits)
    check(proto, {"x": np.random.default_rng(3).random((3, 7), dtype=np.float32)})


@pytest.mark.parametrize("mode,coordinates", [("nearest", "asymmetric"), ("linear", "half_pixel"),
                                              ("linear", "align_corners"), ("cubic", "pytorch_half_pixel")])
def test_resize_scales(mode, coordinates):
    node = helper.make_node("Resize", ["x", "", "scales"], ["y"], mode=mode,
                            coordinate_transformation_mode=coordinates)
    inits = [helper.make_tensor("scales", F, [4], [1, 1, 1.5, 0.75])]
    proto = model([node], [vi("x", F, [1, 2, 4, 4])], [vi("y", F, None)], 13, inits)
    check(proto, {"x": np.random.default_rng(4).random((1, 2, 4, 4), dtype=np.float32)}, rtol=1e-4)


def test_if_with_known_and_runtime_condition():
    def branch(name, value):
        out = vi(f"{name}_out", F, [2])
        const = helper.make_node("Constant", [], [f"{name}_out"],
                                 value=helper.make_tensor("v", F, [2], value))
        return helper.make_graph([const], name, [], [out])

    node = helper.make_node("If", ["c"], ["y"], then_branch=branch("then", [1, 2]),
                            else_branch=branch("else", [3, 4]))
    proto = model([node], [vi("c", TensorProto.BOOL, [])], [vi("y", F, [2])], 13)
    for flag in (True, False):
        check(proto, {"c": np.array(flag)})


def test_scan_running_sum():
    body = helper.make_graph(
        [helper.make_node("Add", ["s_in", "x_t"], ["s_out"]),
         helper.make_node("Identity", ["s_out"], ["y_t"])],
        "body", [vi("s_in", F, [2]), vi("x_t", F, [2])], [vi("s_out", F, [2]), vi("y_t", F, [2])])
    node = helper.make_node("Scan", ["s0", "x"], ["s", "ys"], body=body, num_scan_inputs=1)
    proto = model([node], [vi("s0", F, [2]), vi("x", F, [5, 2])], [vi("s", F, [2]), vi("ys", F, [5, 2])], 16)
    check(proto, {"s0": np.zeros(2, np.float32), "x": np.arange(10, dtype=np.float32).reshape(5, 2)})


def test_topk_unique_nonzero_cumsum_onehot_trilu():
    nodes = [
        helper.make_node("TopK", ["x", "k"], ["tv", "ti"], axis=-1),
        helper.make_node("Unique", ["x"], ["u", "ui", "uinv", "uc"], sorted=1),
        helper.make_node("NonZero", ["x"], ["nz"]),
        helper.make_node("CumSum", ["x", "axis"], ["cs"], reverse=1),
        helper.make_node("OneHot", ["idx", "depth", "values"], ["oh"], axis=0),
        helper.make_node("Trilu", ["x"], ["tri"], upper=0),
    ]
    inits = [helper.make_tensor("k", I64, [1], [2]), helper.make_tensor("axis", I64, [], [1]),
             helper.make_tensor("depth", I64, [], [4]), helper.make_tensor("values", F, [2], [0, 7])]
    outs = [vi(n, t, None) for n, t in [("tv", F), ("ti", I64), ("u", F), ("ui", I64), ("uinv", I64),
                                        ("uc", I64), ("nz", I64), ("cs", F), ("oh", F), ("tri", F)]]
    proto = model(nodes, [vi("x", F, [3, 3]), vi("idx", I64, [3])], outs, 14, inits)
    check(proto, {"x": np.float32([[0, 2, 2], [1, 0, 3], [2, 2, 0]]), "idx": np.array([0, -1, 2])})


def test_converted_model_round_trips_through_onnx_checker():
    """The test models themselves are valid ONNX (guards the helpers above)."""
    node = helper.make_node("Transpose", ["x"], ["y"], perm=[1, 0])
    proto = model([node], [vi("x", F, [2, 3])], [vi("y", F, [3, 2])], 13)
    onnx.checker.check_model(proto)
    check(proto, {"x": np.arange(6, dtype=np.float32).reshape(2, 3)})


def test_function_op_is_expanded_from_its_onnx_body():
    """CenterCropPad has no Kiln converter: the core converts its ONNX function body."""
    node = helper.make_node("CenterCropPad", ["x", "shape"], ["y"], axes=[0, 1])
    inits = [helper.make_tensor("shape", I64, [2], [3, 6])]
    proto = model([node], [vi("x", F, [5, 4, 2])], [vi("y", F, None)], 18, inits)
    check(proto, {"x": np.arange(40, dtype=np.float32).reshape(5, 4, 2)})


@pytest.mark.parametrize("mode,padding", [("linear", "zeros"), ("nearest", "border"),
                                          ("cubic", "reflection")])
def test_grid_sample(mode, padding):
    node = helper.make_node("GridSample", ["x", "grid"], ["y"], mode=mode, padding_mode=padding)
    proto = model([node], [vi("x", F, [1, 2, 4, 5]), vi("grid", F, [1, 3, 3, 2])], [vi("y", F, None)], 20)
    rng = np.random.default_rng(5)
    check(proto, {"x": rng.random((1, 2, 4, 5), dtype=np.float32),
                  "grid": rng.uniform(-1.3, 1.3, (1, 3, 3, 2)).astype(np.float32)}, rtol=1e-4)


@pytest.mark.parametrize("inverse,onesided", [(0, 0), (0, 1), (1, 0)])
def test_dft(inverse, onesided):
    node = helper.make_node("DFT", ["x"], ["y"], axis=1, inverse=inverse, onesided=onesided)
    width = 2 if inverse else 1
    proto = model([node], [vi("x", F, [2, 8, width])], [vi("y", F, None)], 19)
    check(proto, {"x": np.random.default_rng(6).random((2, 8, width), dtype=np.float32)}, rtol=1e-4)


def test_non_max_suppression():
    node = helper.make_node("NonMaxSuppression", ["boxes", "scores", "limit", "iou", "score"], ["sel"])
    inits = [helper.make_tensor("limit", I64, [1], [2]), helper.make_tensor("iou", F, [1], [0.5]),
             helper.make_tensor("score", F, [1], [0.1])]
    proto = model([node], [vi("boxes", F, [1, 4, 4]), vi("scores", F, [1, 2, 4])], [vi("sel", I64, None)],
                  11, inits)
    boxes = np.float32([[[0, 0, 1, 1], [0, 0.1, 1, 1.1], [0, 2, 1, 3], [5, 5, 4, 4]]])
    scores = np.float32([[[0.9, 0.8, 0.7, 0.05], [0.2, 0.3, 0.3, 0.9]]])
    check(proto, {"boxes": boxes, "scores": scores})


def _shape_if_model():
    """y = x + 1 when x has 3 rows, else x - 1 (the condition comes from x's shape)."""
    def branch(name, op):
        node = helper.make_node(op, ["x", "one"], [f"{name}_y"])
        return helper.make_graph([node], name, [], [vi(f"{name}_y", F, None)])

    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Gather", ["s", "zero"], ["rows"], axis=0),
             helper.make_node("Equal", ["rows", "three"], ["c"]),
             helper.make_node("If", ["c"], ["y"], then_branch=branch("then", "Add"),
                              else_branch=branch("else", "Sub"))]
    inits = [helper.make_tensor("zero", I64, [], [0]), helper.make_tensor("three", I64, [], [3]),
             helper.make_tensor("one", F, [], [1])]
    return model(nodes, [vi("x", F, [3, 2])], [vi("y", F, None)], 13, inits)


def test_if_chosen_from_shapes_is_guarded_after_reshape():
    proto = _shape_if_model()
    check(proto, {"x": np.ones((3, 2), np.float32)})
    converted = convert_model(proto)
    with pytest.raises(Exception, match="branch_guard"):  # at compile (folding) or at inference
        converted.reshape([4, 2])
        Core().compile_model(converted, "CPU")({"x": np.ones((4, 2), np.float32)})


def test_unrolled_scan_refuses_another_length():
    from kiln import ShapeInferenceError

    body = helper.make_graph([helper.make_node("Add", ["s_in", "x_t"], ["s_out"])], "body",
                             [vi("s_in", F, [2]), vi("x_t", F, [2])], [vi("s_out", F, [2])])
    node = helper.make_node("Scan", ["s0", "x"], ["s"], body=body, num_scan_inputs=1)
    converted = convert_model(model([node], [vi("s0", F, [2]), vi("x", F, [5, 2])], [vi("s", F, [2])], 16))
    with pytest.raises(ShapeInferenceError, match="Reshape"):
        converted.reshape({"s0": [2], "x": [7, 2]})


@pytest.mark.parametrize("with_condition", [False, True])
def test_loop_with_known_trip_count(with_condition):
    """Loop with a constant trip count: a running sum, a scan output, and optionally a data-
    dependent stop condition (sum below a limit) that freezes the carried value."""
    nodes = [helper.make_node("Cast", ["i"], ["i_f"], to=TensorProto.FLOAT),
             helper.make_node("Add", ["acc_in", "i_f"], ["acc_out"]),
             helper.make_node("Less", ["acc_out", "limit"], ["keep"]),
             helper.make_node("Identity", ["acc_out"], ["trace"])]
    outputs = [vi("keep", TensorProto.BOOL, []), vi("acc_out", F, [1])]
    if not with_condition:
        nodes[2] = helper.make_node("Identity", ["c_in"], ["keep"])
        outputs.append(vi("trace", F, [1]))
    body = helper.make_graph(nodes, "body", [vi("i", I64, []), vi("c_in", TensorProto.BOOL, []),
                                             vi("acc_in", F, [1])], outputs)
    outs = ["acc"] if with_condition else ["acc", "traces"]
    node = helper.make_node("Loop", ["trips", "go", "acc0"], outs, body=body)
    inits = [helper.make_tensor("trips", I64, [], [6]),
             helper.make_tensor("go", TensorProto.BOOL, [], [True]),
             helper.make_tensor("limit", F, [1], [7.0])]
    proto = model([node], [vi("acc0", F, [1])], [vi(name, F, None) for name in outs], 13, inits)
    check(proto, {"acc0": np.float32([0.5])})
