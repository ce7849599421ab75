"""OpenVINO-only layers (ScaledDotProductAttention, ShuffleChannels) read as Kiln ops, judged by OpenVINO."""

import numpy as np
import pytest
from kiln.errors import UnsupportedOpError
from kiln.ir import evaluate
from kiln.serialize import read_ir, save_ir

ov = pytest.importorskip("openvino")
ops = pytest.importorskip("openvino.opset13")

pytestmark = pytest.mark.interop


def openvino_model(build, shapes):
    params = [ops.parameter(shape, dtype, name=f"in{i}") for i, (shape, dtype) in enumerate(shapes)]
    return ov.Model([build(*params).output(0)], params, "m")


def check(model, tmp_path, feeds):
    path = tmp_path / "ov.xml"
    ov.save_model(model, str(path), compress_to_fp16=False)
    expected = ov.Core().compile_model(str(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})(feeds)[0]
    kiln_model = read_ir(path)
    np.testing.assert_allclose(evaluate(kiln_model, feeds)[0], expected, rtol=1e-5, atol=1e-5)
    save_ir(kiln_model, tmp_path / "kiln.xml")  # the decomposed form is valid IR for OpenVINO too
    again = ov.Core().compile_model(str(tmp_path / "kiln.xml"), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    np.testing.assert_allclose(again(feeds)[0], expected, rtol=1e-5, atol=1e-5)
    return kiln_model


@pytest.mark.parametrize("mask", ["none", "float", "boolean", "causal", "scale"])
def test_scaled_dot_product_attention(tmp_path, mask):
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal(s).astype(np.float32) for s in ((2, 3, 4, 8), (2, 3, 6, 8), (2, 3, 6, 5)))
    shapes = [((2, 3, 4, 8), np.float32), ((2, 3, 6, 8), np.float32), ((2, 3, 6, 5), np.float32)]
    feeds = [q, k, v]
    if mask == "float":
        shapes.append(((1, 1, 4, 6), np.float32))
        feeds.append(rng.standard_normal((1, 1, 4, 6)).astype(np.float32))
    elif mask == "boolean":
        shapes.append(((4, 6), bool))
        attend = rng.random((4, 6)) > 0.3
        attend[:, 0] = True
        feeds.append(attend)

    def build(*p):
        if mask == "scale":
            return ops.scaled_dot_product_attention(*p, np.float32(0), np.float32(0.3))
        return ops.scaled_dot_product_attention(*p, causal=mask == "causal")

    model = check(openvino_model(build, shapes), tmp_path, feeds)
    assert "Softmax" in [n.type_name for n in model.ordered_nodes()]


def test_shuffle_channels(tmp_path):
    x = np.random.default_rng(1).standard_normal((2, 6, 3, 3)).astype(np.float32)
    model = openvino_model(lambda p: ops.shuffle_channels(p, 1, 3), [((2, 6, 3, 3), np.float32)])
    check(model, tmp_path, [x])


def test_unsupported_forms_name_the_layer(tmp_path):
    model = openvino_model(lambda p: ops.shuffle_channels(p, 1, 3), [((2, -1, 3, 3), np.float32)])
    ov.save_model(model, str(tmp_path / "dyn.xml"))
    with pytest.raises(UnsupportedOpError, match=r"type=ShuffleChannels.*static input shape"):
        read_ir(tmp_path / "dyn.xml")
