"""`kiln convert`: ONNX in, IR v11 out, optimized unless --no-optimize."""

import subprocess
import sys

import numpy as np
import onnx
import pytest
from kiln.cli import main
from kiln.cli.convert import parse_input_shape
from kiln.errors import KilnError
from kiln.ir import evaluate
from kiln.serialize import read_ir
from onnx import TensorProto, helper, numpy_helper


@pytest.fixture
def conv_bn_onnx(tmp_path):
    """Write an ONNX Conv -> BatchNormalization -> Relu model with a dynamic batch; return its path."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(v.astype(np.float32), name) for name, v in [
        ("W", rng.standard_normal((4, 3, 3, 3))), ("B", rng.standard_normal(4)),
        ("gamma", rng.uniform(0.5, 2, 4)), ("beta", rng.standard_normal(4)),
        ("mean", rng.standard_normal(4)), ("var", rng.uniform(0.5, 2, 4))]]
    nodes = [helper.make_node("Conv", ["x", "W", "B"], ["c"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("BatchNormalization", ["c", "gamma", "beta", "mean", "var"], ["bn"], name="bn"),
             helper.make_node("Relu", ["bn"], ["y"], name="relu")]
    graph = helper.make_graph(nodes, "convbn", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                              ["N", 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    path = tmp_path / "convbn.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    return path


def test_convert_optimizes_and_reshapes(conv_bn_onnx, tmp_path, capsys):
    out = tmp_path / "ir" / "model.xml"
    assert main(["convert", str(conv_bn_onnx), "-o", str(out), "--input-shape", "x:2,3,8,8"]) == 0
    model = read_ir(out)
    kinds = [n.type_name for n in model.ordered_nodes()]
    assert "BatchNormInference" not in kinds and kinds.count("Add") == 1
    assert model.parameters[0].attrs["shape"] == (2, 3, 8, 8)
    assert model.output_names == ["y"]
    err = capsys.readouterr().err
    assert "optimized:" in err and "wrote" in err


def test_no_optimize_and_fp16_keep_the_graph(conv_bn_onnx, tmp_path):
    plain, half = tmp_path / "plain.xml", tmp_path / "half.xml"
    assert main(["convert", str(conv_bn_onnx), "-o", str(plain), "--no-optimize", "-q"]) == 0
    assert main(["convert", str(conv_bn_onnx), "-o", str(half), "--no-optimize", "--compress-to-fp16",
                 "-q"]) == 0
    a, b = read_ir(plain), read_ir(half)
    assert "BatchNormInference" in [n.type_name for n in a.ordered_nodes()]
    assert half.with_suffix(".bin").stat().st_size < plain.with_suffix(".bin").stat().st_size
    x = np.random.default_rng(1).standard_normal((1, 3, 8, 8)).astype(np.float32)
    np.testing.assert_allclose(evaluate(b, [x])[0], evaluate(a, [x])[0], rtol=1e-2, atol=1e-2)


def test_bad_arguments_give_errors(conv_bn_onnx, tmp_path, capsys):
    assert main(["convert", str(conv_bn_onnx), "-o", str(tmp_path / "m.txt")]) == 1
    assert "must be an .xml path" in capsys.readouterr().err
    bad_rank = ["--input-shape", "x:1,3,9"]
    assert main(["convert", str(conv_bn_onnx), "-o", str(tmp_path / "m.xml"), *bad_rank]) == 1
    assert "rank 3" in capsys.readouterr().err
    assert main(["convert", str(tmp_path / "missing.onnx")]) == 1
    assert "no such file" in capsys.readouterr().err


def test_parse_input_shape():
    assert parse_input_shape("x:1,3,224,224") == ("x", (1, 3, 224, 224))
    assert parse_input_shape("a:b:?,-1,2") == ("a:b", (None, None, 2))
    assert parse_input_shape("[1,2]") == (0, (1, 2))
    with pytest.raises(KilnError, match="'x' is not a dimension"):
        parse_input_shape("in:1,x")


def test_python_dash_m_entry_point(conv_bn_onnx, tmp_path):
    out = tmp_path / "m.xml"
    done = subprocess.run([sys.executable, "-m", "kiln", "convert", str(conv_bn_onnx), "-o", str(out), "-q"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert out.exists() and out.with_suffix(".bin").exists()
