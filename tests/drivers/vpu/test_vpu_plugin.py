import kiln
import numpy as np
import onnxruntime as ort
import pytest
from kiln.compiler import VpuProgram
from kiln.errors import CompileError


def cosine(a, b):
    a, b = np.ravel(a).astype(np.float64), np.ravel(b).astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def quantized(proto, shape, make_samples):
    model = kiln.convert_model(proto)
    return kiln.quantize(model, [{"x": s} for s in make_samples(shape, 8)])


@pytest.mark.interop
def test_residual_cnn_on_hetero_matches_fp32(cnn_proto, make_samples):
    core = kiln.Core()
    q = quantized(cnn_proto, (1, 3, 32, 32), make_samples)
    on_vpu = core.query_model(q, "VPU")
    heavy = [n.name for n in q.ordered_nodes()
             if n.type_name in ("Convolution", "GroupConvolution", "MatMul", "MaxPool", "AvgPool")]
    assert heavy and all(name in on_vpu for name in heavy)
    compiled = core.compile_model(q, "HETERO:VPU,CPU")
    session = ort.InferenceSession(cnn_proto.SerializeToString())
    for x in make_samples((1, 3, 32, 32), 3, seed=7):
        expected = session.run(None, {"x": x})[0]
        assert cosine(compiled({"x": x})[0], expected) >= 0.98


@pytest.mark.interop
def test_transformer_layer_matmuls_on_vpu(transformer_proto, make_samples):
    core = kiln.Core()
    q = quantized(transformer_proto, (1, 8, 32), make_samples)
    on_vpu = core.query_model(q, "VPU")
    matmuls = [n.name for n in q.ordered_nodes() if n.type_name == "MatMul"]
    assert len(matmuls) == 8  # q, k, v, Q.K^T, P.V, out, and the two of the MLP
    assert all(name in on_vpu for name in matmuls)
    compiled = core.compile_model(q, "HETERO:VPU,CPU")
    assert compiled.executable.placement.count("VPU", ("MatMul",)) == 8
    session = ort.InferenceSession(transformer_proto.SerializeToString())
    for x in make_samples((1, 8, 32), 3, seed=9):
        assert cosine(compiled({"x": x})[0], session.run(None, {"x": x})[0]) >= 0.98


def test_vpu_runs_whole_quantized_subgraph_bit_exact_across_save_load(cnn_proto, make_samples, tmp_path):
    core = kiln.Core()
    q = quantized(cnn_proto, (1, 3, 32, 32), make_samples)
    compiled = core.compile_model(q, "HETERO:VPU,CPU", {"PERF_COUNT": True})
    x = make_samples((1, 3, 32, 32), 1, seed=3)[0]
    first = compiled({"x": x})[0]
    again = compiled({"x": x})[0]
    np.testing.assert_array_equal(first, again)
    hetero = compiled.executable
    programs = [e.program for sub, e in zip(hetero.placement.subgraphs, hetero.executables)
                if sub.device == "VPU"]
    assert programs
    for program in programs:
        path = tmp_path / "prog.kvpu"
        program.save(path)
        loaded = VpuProgram.load(path)
        assert loaded.instructions == program.instructions
        assert loaded.disassemble() == program.disassemble()


def test_profiling_reports_layers(cnn_proto, make_samples):
    core = kiln.Core()
    q = quantized(cnn_proto, (1, 3, 32, 32), make_samples)
    compiled = core.compile_model(q, "HETERO:VPU,CPU", {"PERF_COUNT": True})
    compiled({"x": make_samples((1, 3, 32, 32), 1)[0]})
    rows = [layer for part in compiled.executable.profiling_info() if part["device"] == "VPU"
            for layer in part["detail"]]
    assert rows, "no VPU layers profiled"
    convs = [r for r in rows if r["node_type"] == "conv"]
    assert convs and all(r["cycles"] > 0 and r["macs"] > 0 and 0 < r["utilisation"] <= 1 for r in convs)


def test_float_model_on_vpu_names_the_node():
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    w = numpy_helper.from_array(np.ones((4, 3, 1, 1), np.float32), "w")
    graph = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"], name="float_conv")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w])
    model = kiln.convert_model(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]))
    core = kiln.Core()
    reasons = core.plugin("VPU").placement_reasons(model, {})
    assert "not int8-quantized" in reasons["float_conv"]
    with pytest.raises(CompileError, match="float_conv"):
        core.compile_model(model, "VPU")
    assert onnx  # the model above is plain ONNX


def test_vpu_config_dim_16(cnn_proto, make_samples):
    core = kiln.Core()
    q = quantized(cnn_proto, (1, 3, 32, 32), make_samples)
    x = make_samples((1, 3, 32, 32), 1, seed=5)[0]
    out8 = core.compile_model(q, "HETERO:VPU,CPU", {"VPU_DIM": 8})({"x": x})[0]
    out16 = core.compile_model(q, "HETERO:VPU,CPU", {"VPU_DIM": 16})({"x": x})[0]
    np.testing.assert_array_equal(out8, out16)
