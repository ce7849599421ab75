"""Quantized ONNX models against fp32 onnxruntime, and quantized IR files read by OpenVINO."""

from __future__ import annotations

import numpy as np
import pytest
from kiln import Core, convert_model, quantize, read_model, save_model
from quant_models import cosine
from quant_onnx_models import qdq_conv_onnx, residual_cnn_onnx, transformer_onnx

pytestmark = pytest.mark.interop


def _data(shape, count, seed):
    rng = np.random.default_rng(seed)
    return [{"input": rng.standard_normal(shape).astype(np.float32)} for _ in range(count)]


@pytest.mark.parametrize("build", [residual_cnn_onnx, transformer_onnx])
def test_quantized_on_cpu_matches_onnxruntime_fp32(build):
    ort = pytest.importorskip("onnxruntime")
    proto = build()
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    shape = session.get_inputs()[0].shape
    q = quantize(convert_model(proto), _data(shape, 8, 0), progress=False)
    compiled = Core().compile_model(q, "CPU")
    for feed in _data(shape, 3, 1):
        assert cosine(session.run(None, feed)[0], compiled(feed)[0]) >= 0.99


def test_quantized_ir_reads_back_and_in_openvino(tmp_path):
    ov = pytest.importorskip("openvino")
    proto = residual_cnn_onnx()
    data = _data([1, 3, 32, 32], 4, 0)
    q = quantize(convert_model(proto), data, progress=False)
    save_model(q, tmp_path / "q.xml")
    again = read_model(tmp_path / "q.xml")
    assert [n.type_name for n in again.ordered_nodes()].count("FakeQuantize") == \
        [n.type_name for n in q.ordered_nodes()].count("FakeQuantize")
    i8 = [n for n in again.ordered_nodes() if n.type_name == "Constant" and n.attrs["value"].dtype == np.int8]
    assert len(i8) == sum(n.type_name in ("Convolution", "GroupConvolution", "MatMul")
                          for n in again.ordered_nodes())
    core = Core()
    ours = core.compile_model(q, "CPU")(data[0])[0]
    np.testing.assert_allclose(core.compile_model(again, "CPU")(data[0])[0], ours, rtol=1e-5, atol=1e-5)
    compiled = ov.Core().compile_model(str(tmp_path / "q.xml"), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    theirs = compiled(data[0]["input"])[0]
    assert cosine(theirs, ours) >= 0.999


@pytest.mark.parametrize("zero_point", [0, 3])
def test_qdq_model_arrives_quantized(zero_point):
    ort = pytest.importorskip("onnxruntime")
    proto = qdq_conv_onnx(zero_point=zero_point)
    q = quantize(convert_model(proto), None, progress=False)  # no calibration needed
    conv = q.node("conv")
    fq = conv.inputs[0].node
    assert fq.type_name == "FakeQuantize" and fq.attrs["levels"] == 256
    low, high = float(fq.input_value(1)), float(fq.input_value(2))
    assert low == pytest.approx((-128 - zero_point) * 0.03)
    assert high == pytest.approx((127 - zero_point) * 0.03)
    weights = conv.inputs[1].node
    assert weights.type_name == "Multiply" and weights.inputs[0].node.input_value(0).dtype == np.int8
    x = np.random.default_rng(1).standard_normal((1, 4, 8, 8)).astype(np.float32)
    want = ort.InferenceSession(proto.SerializeToString()).run(None, {"input": x})[0]
    np.testing.assert_allclose(Core().compile_model(q, "CPU")(x)[0], want, rtol=1e-5, atol=1e-5)
