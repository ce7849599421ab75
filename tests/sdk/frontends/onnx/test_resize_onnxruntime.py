"""Resize at opsets 10, 13 and 19 against onnxruntime (the frontend's judge)."""

import numpy as np
import pytest
from kiln import Core, convert_model
from onnx import TensorProto, helper

ort = pytest.importorskip("onnxruntime")

pytestmark = pytest.mark.interop

SCALES = [[1, 1, 2, 3], [1, 1, 0.5, 0.7], [1, 1, 1.5, 2.5]]


def resize_model(opset, scales, **attrs):
    inputs = ["x", "s"] if opset == 10 else ["x", "", "s"]
    node = helper.make_node("Resize", inputs, ["y"], **attrs)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 5])
    graph = helper.make_graph([node], "g", [x], [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              initializer=[helper.make_tensor("s", TensorProto.FLOAT, [4], scales)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


@pytest.mark.parametrize("scales", SCALES)
@pytest.mark.parametrize("opset,attrs", [
    (10, {"mode": "nearest"}), (10, {"mode": "linear"}),
    (13, {"mode": "nearest", "nearest_mode": "round_prefer_ceil",
          "coordinate_transformation_mode": "half_pixel"}),
    (13, {"mode": "linear", "coordinate_transformation_mode": "pytorch_half_pixel"}),
    (13, {"mode": "cubic", "coordinate_transformation_mode": "asymmetric", "cubic_coeff_a": -0.5}),
    (19, {"mode": "linear", "antialias": 1}),
])
def test_resize_matches_onnxruntime(opset, attrs, scales):
    model = resize_model(opset, scales, **attrs)
    x = np.random.default_rng(0).random((1, 2, 4, 5), dtype=np.float32)
    want = ort.InferenceSession(model.SerializeToString()).run(None, {"x": x})[0]
    got = Core().compile_model(convert_model(model), "CPU")({"x": x})[0]
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("mode", ["linear", "nearest"])
def test_tf_crop_and_resize_matches_onnxruntime(mode):
    node = helper.make_node("Resize", ["x", "roi", "", "sizes"], ["y"], mode=mode, extrapolation_value=-3.0,
                            coordinate_transformation_mode="tf_crop_and_resize")
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 6, 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        initializer=[helper.make_tensor("roi", TensorProto.FLOAT, [8], [0, 0, 0.2, -0.1, 1, 1, 0.9, 1.3]),
                     helper.make_tensor("sizes", TensorProto.INT64, [4], [1, 2, 4, 7])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    x = np.random.default_rng(3).random((1, 2, 6, 5), dtype=np.float32)
    want = ort.InferenceSession(model.SerializeToString()).run(None, {"x": x})[0]
    got = Core().compile_model(convert_model(model), "CPU")({"x": x})[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
