"""HETERO:VPU,CPU and AUTO with the real VPU plugin (ISA simulator): the issue's must-show checks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from kiln import Core, convert_model, quantize
from kiln.ir import ElementType, Model, constant, make, parameter
from quant_models import cosine
from quant_onnx_models import residual_cnn_onnx, transformer_onnx

ANCHORS = ("Convolution", "GroupConvolution", "MatMul")
DATA = Path(__file__).resolve().parents[3] / "sdk" / "zoo" / "data"


@pytest.fixture(scope="module")
def core():
    core = Core()
    if "VPU" not in core.available_devices:
        pytest.skip("no VPU plugin on this machine")
    return core


def _data(shape, count, seed):
    rng = np.random.default_rng(seed)
    return [{"input": rng.standard_normal(shape).astype(np.float32)} for _ in range(count)]


@pytest.mark.interop
@pytest.mark.parametrize("build", [residual_cnn_onnx, transformer_onnx])
def test_quantized_models_on_hetero_vpu_cpu_match_onnxruntime(core, build):
    ort = pytest.importorskip("onnxruntime")
    proto = build()
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    shape = session.get_inputs()[0].shape
    q = quantize(convert_model(proto), _data(shape, 8, 0), progress=False)
    compiled = core.compile_model(q, "HETERO:VPU,CPU")
    placement = compiled.executable.placement
    anchors = {n: d for n, d in placement.devices.items() if placement.types[n] in ANCHORS}
    assert anchors and all(d == "VPU" for d in anchors.values())  # activation x activation too
    for feed in _data(shape, 2, 1):
        assert cosine(session.run(None, feed)[0], compiled(feed)[0]) >= 0.98


def test_digits_int8_on_vpu_within_one_point(core):
    from sklearn.datasets import load_digits

    meta = json.loads((DATA / "digits_cnn.json").read_text())
    d = load_digits()
    test = np.array(meta["test_indices"])
    images = (d.images.astype(np.float32) * np.float32(meta["preprocessing"]["input_scale"]))[:, None]
    train = np.setdiff1d(np.arange(len(d.target)), test)[:32]
    q = quantize(convert_model(DATA / "digits_cnn.onnx"), [{"input": images[i:i + 1]} for i in train],
                 progress=False)
    q.reshape([len(test), 1, 8, 8])  # the VPU compiles static shapes: the whole held-out split at once
    compiled = core.compile_model(q, "HETERO:VPU,CPU")
    placement = compiled.executable.placement
    assert all(placement.devices[n] == "VPU" for n in ("conv1", "conv2", "fc", "pool"))
    accuracy = float((compiled({"input": images[test]})[0].argmax(1) == d.target[test]).mean())
    assert accuracy >= meta["fp32_test_top1"] - 0.01


def _quantized_conv_block() -> Model:
    rng = np.random.default_rng(0)
    x = parameter("input", ElementType.f32, (1, 8, 8, 8))
    w = constant((rng.standard_normal((16, 8, 3, 3)) * 0.2).astype(np.float32))
    y = make("Convolution", x.output(0), w, strides=[1, 1], pads_begin=[1, 1], pads_end=[1, 1],
             dilations=[1, 1], name="conv").output(0)
    y = make("Relu", make("Add", y, constant(np.zeros((1, 16, 1, 1), np.float32))).output(0)).output(0)
    model = Model([y], [x])
    return quantize(model, _data((1, 8, 8, 8), 4, 0), progress=False)


def test_query_and_auto_with_vpu(core, monkeypatch):
    from kiln.drivers.plugin import PLUGINS

    monkeypatch.delitem(PLUGINS, "TESTACC")  # AUTO's default candidates: the real devices only
    q = _quantized_conv_block()
    assert core.query_model(q, "VPU").get("conv") == "VPU"
    compiled = core.compile_model(q, "AUTO")
    assert compiled.executable.device == "VPU", compiled.executable.selection
    cnn = quantize(convert_model(residual_cnn_onnx()), _data([1, 3, 32, 32], 2, 0), progress=False)
    compiled = core.compile_model(cnn, "AUTO")
    assert compiled.executable.device == "CPU"
    selection = compiled.executable.selection
    assert "VPU: does not take" in selection and "Reshape" in selection


def test_qdq_model_runs_on_vpu(core):
    ort = pytest.importorskip("onnxruntime")
    from quant_onnx_models import qdq_conv_onnx

    proto = qdq_conv_onnx()
    q = quantize(convert_model(proto), None, progress=False)
    compiled = core.compile_model(q, "HETERO:VPU,CPU")
    assert compiled.executable.placement.devices["conv"] == "VPU"
    x = np.random.default_rng(2).standard_normal((1, 4, 8, 8)).astype(np.float32)
    want = ort.InferenceSession(proto.SerializeToString()).run(None, {"input": x})[0]
    np.testing.assert_allclose(compiled(x)[0], want, rtol=1e-4, atol=1e-4)


def test_layer_the_vpu_cannot_hold_falls_back_to_cpu_with_reason(core):
    rng = np.random.default_rng(0)
    x = parameter("input", ElementType.f32, (1, 4, 4, 300))  # wider than the VPU's DMA rows
    w = constant((rng.standard_normal((8, 4, 3, 3)) * 0.3).astype(np.float32))
    y = make("Convolution", x.output(0), w, strides=[1, 1], pads_begin=[1, 1], pads_end=[1, 1],
             dilations=[1, 1], name="wide").output(0)
    model = Model([y], [x])
    data = _data((1, 4, 4, 300), 2, 0)
    q = quantize(model, data, progress=False)
    compiled = core.compile_model(q, "HETERO:VPU,CPU")
    placement = compiled.executable.placement
    assert placement.devices["wide"] == "CPU"
    assert placement.reasons["wide"].startswith("VPU: ") and "width 300" in placement.reasons["wide"]
    np.testing.assert_allclose(compiled(data[0])[0], core.compile_model(q, "CPU")(data[0])[0],
                               rtol=1e-5, atol=1e-5)
