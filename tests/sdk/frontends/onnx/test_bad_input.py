"""Bad input through the public API: each error names the file, node, op or input at fault."""

import numpy as np
import pytest
from kiln import (
    Core,
    InferenceInputError,
    KilnError,
    ModelFormatError,
    ShapeInferenceError,
    UnsupportedOpError,
    convert_model,
)
from onnx import TensorProto, helper


def save(tmp_path, proto, name="m.onnx"):
    path = tmp_path / name
    path.write_bytes(proto.SerializeToString())
    return path


def simple_model(opset=13, op="Relu", **attrs):
    node = helper.make_node(op, ["x"], ["y"], name="act", **attrs)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def test_truncated_file_names_the_file(tmp_path):
    data = simple_model().SerializeToString()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFormatError, match="cut.onnx"):
        Core().read_model(path)


def test_garbage_file_names_the_file(tmp_path):
    path = tmp_path / "noise.onnx"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(ModelFormatError, match="noise.onnx"):
        convert_model(str(path))


def test_empty_file_names_the_file(tmp_path):
    path = tmp_path / "empty.onnx"
    path.write_bytes(b"")
    with pytest.raises(ModelFormatError, match="empty.onnx"):
        convert_model(str(path))


def test_unknown_op_names_node_and_op(tmp_path):
    path = save(tmp_path, simple_model(op="FrobnicateTensor"))
    with pytest.raises(UnsupportedOpError, match=r"m\.onnx.*'act'.*FrobnicateTensor"):
        Core().read_model(path)


def test_unsupported_opset_names_the_opset(tmp_path):
    path = save(tmp_path, simple_model(opset=999))
    with pytest.raises(UnsupportedOpError, match=r"m\.onnx.*opset 999"):
        convert_model(str(path))


def test_unsupported_attribute_value_names_node(tmp_path):
    node = helper.make_node("Resize", ["x", "", "scales"], ["y"], name="up", mode="cubic", exclude_outside=1)
    scales = helper.make_tensor("scales", TensorProto.FLOAT, [4], [1, 1, 2, 2])
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 2, 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    graph = helper.make_graph([node], "g", [x], [y], initializer=[scales])
    path = save(tmp_path, helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]))
    with pytest.raises(UnsupportedOpError, match="'up'.*exclude_outside"):
        convert_model(str(path))


def test_shape_that_does_not_infer_names_the_node(tmp_path):
    node = helper.make_node("Reshape", ["x", "shape"], ["y"], name="bad_view")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              initializer=[helper.make_tensor("shape", TensorProto.INT64, [2], [4, 4])])
    path = save(tmp_path, helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]))
    with pytest.raises(ShapeInferenceError, match=r"bad_view.*Reshape.*\[2, 3\]"):
        convert_model(str(path))


def test_dangling_input_names_the_tensor(tmp_path):
    node = helper.make_node("Relu", ["nowhere"], ["y"], name="act")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    path = save(tmp_path, helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]))
    with pytest.raises(ModelFormatError, match="'act'.*nowhere"):
        convert_model(str(path))


def test_wrong_input_name_at_inference_lists_the_inputs(tmp_path):
    compiled = Core().compile_model(convert_model(str(save(tmp_path, simple_model()))), "CPU")
    with pytest.raises(KilnError, match=r"no input 'image'.*\['x'\]"):
        compiled({"image": np.zeros((1, 4), np.float32)})


def test_wrong_input_shape_at_inference_names_the_input(tmp_path):
    compiled = Core().compile_model(convert_model(str(save(tmp_path, simple_model()))), "CPU")
    with pytest.raises(InferenceInputError, match=r"'x'.*\[1, 4\].*\[2, 4\]"):
        compiled({"x": np.zeros((2, 4), np.float32)})


def test_runtime_index_error_names_the_node(tmp_path):
    node = helper.make_node("Gather", ["table", "ids"], ["y"], name="lookup")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("ids", TensorProto.INT64, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              initializer=[helper.make_tensor("table", TensorProto.FLOAT, [3], [1, 2, 3])])
    path = save(tmp_path, helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]))
    compiled = Core().compile_model(str(path), "CPU")
    with pytest.raises(KilnError, match="lookup.*index 5 is out of range"):
        compiled({"ids": np.array([0, 5])})


def test_legacy_opset_converts_unchanged_ops_and_rejects_changed_ones(tmp_path):
    node = helper.make_node("Not", ["x"], ["y"], name="negate")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.BOOL, [3])],
                              [helper.make_tensor_value_info("y", TensorProto.BOOL, [3])])
    ok = save(tmp_path, helper.make_model(graph, opset_imports=[helper.make_opsetid("", 1)]), "not.onnx")
    out = Core().compile_model(str(ok), "CPU")({"x": np.array([True, False, True])})
    np.testing.assert_array_equal(out[0], [False, True, False])
    old_relu = save(tmp_path, simple_model(opset=1), "relu1.onnx")
    with pytest.raises(UnsupportedOpError, match=r"relu1\.onnx.*'act' \(Relu\).*opset 1 definition"):
        convert_model(str(old_relu))


def test_cycle_names_a_node_on_it(tmp_path):
    nodes = [helper.make_node("Add", ["x", "b"], ["a"], name="first"),
             helper.make_node("Relu", ["a"], ["b"], name="second")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("b", TensorProto.FLOAT, [1])])
    path = save(tmp_path, helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), "loop.onnx")
    with pytest.raises(ModelFormatError, match=r"loop\.onnx.*'first'.*cycle"):
        convert_model(str(path))
