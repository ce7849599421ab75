"""kiln.quantize: the IR it writes, its accuracy in float, options, and errors on bad input."""

from __future__ import annotations

import numpy as np
import pytest
from kiln import InferenceInputError, quantize
from kiln.ir import ElementType, Model, constant, evaluate, make, parameter, validate
from kiln.quantization import IgnoredScope, QuantizationError, fake_quantize, quantize_weight
from kiln.quantization.layers import feeds_int8_layer
from quant_models import cosine, residual_cnn, samples, transformer_layer

ANCHORS = ("Convolution", "GroupConvolution", "MatMul")


def check_fake_quantize(node) -> float:
    """Assert ``node`` is the documented activation FakeQuantize; return its scale."""
    assert node.type_name == "FakeQuantize" and node.attrs["levels"] == 256
    lo, hi, olo, ohi = (node.input_value(i) for i in (1, 2, 3, 4))
    assert lo.shape == () and lo.dtype == np.float32
    scale = float(hi) / 127
    assert scale > 0
    np.testing.assert_allclose([lo, olo, ohi], [-128 * scale, -128 * scale, 127 * scale], rtol=1e-6)
    return scale


def check_weights(anchor) -> None:
    """Assert the anchor's weight input is Multiply(Convert(i8 Constant), f32 per-channel scale)."""
    mul = anchor.inputs[1].node
    assert mul.type_name == "Multiply"
    convert, scale = mul.inputs[0].node, mul.input_value(1)
    assert convert.type_name == "Convert" and convert.attrs["destination_type"] == ElementType.f32
    q = convert.input_value(0)
    assert q.dtype == np.int8 and np.abs(q).max() == 127
    w_rank = len(q.shape)
    if anchor.type_name == "Convolution":
        assert scale.shape == (q.shape[0],) + (1,) * (w_rank - 1)
    elif anchor.type_name == "GroupConvolution":
        assert scale.shape == q.shape[:2] + (1,) * (w_rank - 2)
    else:
        axis = w_rank - 2 if anchor.attrs["transpose_b"] else w_rank - 1
        assert scale.shape == tuple(q.shape[a] if a == axis else 1 for a in range(w_rank))


@pytest.mark.parametrize("build", [residual_cnn, transformer_layer])
def test_quantized_ir_form(build):
    model = build()
    q = quantize(model, samples(model, 4), progress=False)
    validate(q)
    anchors = [n for n in q.ordered_nodes() if n.type_name in ANCHORS]
    assert len(anchors) == sum(n.type_name in ANCHORS for n in model.ordered_nodes())
    for anchor in anchors:
        check_fake_quantize(anchor.inputs[0].node)
        if anchor.inputs[1].node.type_name == "FakeQuantize":   # activation x activation matmul
            check_fake_quantize(anchor.inputs[1].node)
        else:
            check_weights(anchor)
    readers = q.consumers()
    for node in q.ordered_nodes():
        if node.type_name == "Add" and all(p.node.type_name != "Constant" for p in node.inputs):
            # A residual Add computes on int8 operands only when its sum goes on into an int8 layer.
            int8 = feeds_int8_layer(node, readers, IgnoredScope())
            assert int8 == (node.name == "residual"), node.name
            assert ([p.node.type_name for p in node.inputs] == ["FakeQuantize"] * 2) == int8, node.name
        if node.type_name in ("MaxPool", "Relu", "Softmax", "MVN"):
            assert node.inputs[0].node.type_name != "FakeQuantize", node.name
    # One FakeQuantize per tensor, shared by its readers.
    sources = [n.inputs[0] for n in q.ordered_nodes() if n.type_name == "FakeQuantize"]
    assert len(sources) == len(set(sources))


@pytest.mark.parametrize("method", ["minmax", "percentile", "entropy"])
@pytest.mark.parametrize("build", [residual_cnn, transformer_layer])
def test_quantized_model_close_to_float(build, method):
    model = build()
    q = quantize(model, samples(model, 8), method=method, progress=False)
    for feed in samples(model, 3, seed=1):
        want = evaluate(model, feed)[0]
        got = evaluate(q, feed)[0]
        assert got.dtype == want.dtype and got.shape == want.shape
        assert cosine(want, got) >= 0.99


def test_input_model_unchanged_and_names_kept():
    model = residual_cnn()
    before = [(n.name, n.type_name, [p.node.name for p in n.inputs]) for n in model.ordered_nodes()]
    q = quantize(model, samples(model, 2), progress=False)
    after = [(n.name, n.type_name, [p.node.name for p in n.inputs]) for n in model.ordered_nodes()]
    assert before == after
    anchors = {n.name for n in model.ordered_nodes() if n.type_name in ANCHORS}
    assert anchors <= {n.name for n in q.ordered_nodes()}
    assert q.output_names == model.output_names and q.input_names == model.input_names
    assert "method=minmax" in q.rt_info["quantization"]


def test_fake_quantize_is_int8_grid():
    x = parameter("x", ElementType.f32, (1000,))
    fq = fake_quantize(x.output(0), 2.0, "fq")
    values = np.linspace(-3, 3, 1000, dtype=np.float32)
    out = evaluate(Model([fq], [x]), [values])[0]
    scale = np.float32(2.0) / np.float32(127)
    codes = out / scale
    np.testing.assert_allclose(codes, np.rint(codes), atol=1e-3)
    assert codes.min() == pytest.approx(-128) and codes.max() == pytest.approx(127)
    inside = np.abs(values) <= 2.0
    assert np.max(np.abs(out[inside] - values[inside])) <= scale / 2 + 1e-6


def test_quantize_weight_per_channel():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32) * np.array([1, 10, 0.01, 0])[:, None, None, None]
    w = w.astype(np.float32)
    q, scale = quantize_weight(w, (0,))
    assert q.dtype == np.int8 and scale.dtype == np.float32 and scale.shape == (4, 1, 1, 1)
    assert scale[3, 0, 0, 0] == 1.0 and not q[3].any()
    assert np.all(np.abs(q) <= 127) and np.all(np.abs(q[:3]).reshape(3, -1).max(1) == 127)
    assert np.all(np.abs(q * scale - w) <= scale / 2 + 1e-7)


@pytest.mark.parametrize("option, value", [
    ("ignored_names", ["pw"]), ("ignored_types", ["GroupConvolution"]), ("ignored_patterns", ["d.*"]),
])
def test_ignored_scope_keeps_float(option, value):
    model = residual_cnn()
    q = quantize(model, samples(model, 2), progress=False, **{option: value})
    kept = {"ignored_names": {"pw"}, "ignored_types": {"dw"}, "ignored_patterns": {"down", "dw"}}[option]
    for node in q.ordered_nodes():
        if node.type_name in ANCHORS:
            quantized = node.inputs[0].node.type_name == "FakeQuantize"
            assert quantized == (node.name not in kept), node.name
            if node.name in kept:
                assert node.inputs[1].node.type_name == "Constant"


def test_already_quantized_model_is_kept():
    model = residual_cnn()
    q = quantize(model, samples(model, 2), progress=False)
    again = quantize(q, None, progress=False)
    count = sum(n.type_name == "FakeQuantize" for n in q.ordered_nodes())
    assert sum(n.type_name == "FakeQuantize" for n in again.ordered_nodes()) == count
    feed = samples(model, 1, seed=5)[0]
    np.testing.assert_array_equal(evaluate(again, feed)[0], evaluate(q, feed)[0])


def test_partly_quantized_model_only_quantizes_the_rest():
    model = residual_cnn()
    half = quantize(model, samples(model, 2), ignored_names=["fc"], progress=False)
    full = quantize(half, samples(model, 2), progress=False)
    fc = full.node("fc")
    check_fake_quantize(fc.inputs[0].node)
    check_weights(fc)
    stem = full.node("stem")
    assert stem.inputs[0].node.inputs[0].node.type_name == "Parameter"  # no second FakeQuantize


def test_calibration_errors_name_the_problem():
    model = residual_cnn()
    with pytest.raises(QuantizationError, match="calibration_data is empty"):
        quantize(model, [], progress=False)
    with pytest.raises(QuantizationError, match="calibration_data is required"):
        quantize(model, None, progress=False)
    with pytest.raises(QuantizationError, match="wrap it in a list"):
        quantize(model, samples(model, 1)[0], progress=False)
    bad = samples(model, 2) + [{"input": np.zeros((1, 3, 8, 8), np.float32)}]
    with pytest.raises(InferenceInputError, match=r"calibration sample 2: input 'input': expected shape"):
        quantize(model, bad, progress=False)
    with pytest.raises(InferenceInputError, match="calibration sample 0: .*no input .other."):
        quantize(model, [{"other": np.zeros(3)}], progress=False)
    with pytest.raises(QuantizationError, match="unknown calibration method 'kl'"):
        quantize(model, samples(model, 1), method="kl")
    with pytest.raises(QuantizationError, match="ignored_names: .* no node"):
        quantize(model, samples(model, 1), ignored_names=["nope"])


def test_model_without_quantizable_layer():
    x = parameter("x", ElementType.f32, (1, 4))
    y = make("Relu", make("Add", x.output(0), constant(np.ones(4, np.float32))).output(0)).output(0)
    with pytest.raises(QuantizationError, match="no quantizable layer"):
        quantize(Model([y], [x]), [{"x": np.ones((1, 4), np.float32)}], progress=False)
    model = residual_cnn()
    with pytest.raises(QuantizationError, match="kept in float by the ignored scope"):
        quantize(model, samples(model, 1), ignored_types=list(ANCHORS), progress=False)


def test_subset_size_limits_calibration():
    model = transformer_layer()
    consumed = []

    def stream():
        for i, sample in enumerate(samples(model, 50)):
            consumed.append(i)
            yield sample

    quantize(model, stream(), subset_size=5, progress=False)
    assert len(consumed) == 5


def test_weight_fake_quantize_arrives_and_is_stored_int8():
    """OpenVINO/NNCF's uncompressed form: f32 weights -> FakeQuantize(levels=255, per channel)."""
    rng = np.random.default_rng(0)
    x = parameter("input", ElementType.f32, (1, 4, 8, 8))
    w = rng.standard_normal((8, 4, 3, 3)).astype(np.float32)
    top = np.abs(w).reshape(8, -1).max(1).reshape(8, 1, 1, 1).astype(np.float32)
    wq = make("FakeQuantize", constant(w), constant(-top), constant(top), constant(-top), constant(top),
              levels=255, name="wfq").output(0)
    low, high = constant(np.array(-128 * 0.03, np.float32)), constant(np.array(127 * 0.03, np.float32))
    xq = make("FakeQuantize", x.output(0), low, high, low, high, levels=256, name="xfq").output(0)
    y = make("Convolution", xq, wq, strides=[1, 1], pads_begin=[1, 1], pads_end=[1, 1], dilations=[1, 1],
             name="conv").output(0)
    model = Model([y], [x])
    q = quantize(model, None, progress=False)
    conv = q.node("conv")
    assert conv.inputs[0].node.name == "xfq"
    check_weights(conv)
    feed = rng.standard_normal((1, 4, 8, 8)).astype(np.float32)
    np.testing.assert_allclose(evaluate(q, [feed])[0], evaluate(model, [feed])[0], rtol=1e-5, atol=1e-5)
