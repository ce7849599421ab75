"""Each NN / math IR op, saved as OpenVINO IR by Kiln and run by the real OpenVINO runtime,
matches Kiln's numpy reference: the attribute names and semantics are OpenVINO's own."""

from __future__ import annotations

import numpy as np
import pytest
from kiln import save_model
from kiln.ir import ElementType, Model, constant, evaluate, make, parameter

ov = pytest.importorskip("openvino")
pytestmark = pytest.mark.interop

RNG = np.random.default_rng(0)


def f32(*shape):
    return RNG.normal(size=shape).astype(np.float32)


ROIS = np.array([[0, 0, 16, 16], [2, 4, 9, 15], [-3, 5, 20, 12]], np.float32)


def i64(*values):
    return constant(np.array(values, np.int64))


def window(**changes):
    attrs = dict(strides=[1, 1], dilations=[1, 1], pads_begin=[1, 1], pads_end=[1, 1])
    attrs.update(changes)
    return attrs


def image_cases(x):
    pool = dict(kernel=[3, 3], strides=[2, 2], pads_begin=[1, 1], pads_end=[1, 1])
    scalar = constant(np.float32(0.5))
    return {
        "Convolution": lambda: make("Convolution", x, constant(f32(6, 4, 3, 3)), **window()),
        "GroupConvolution": lambda: make("GroupConvolution", x, constant(f32(4, 1, 1, 3, 3)),
                                         **window(auto_pad="same_upper", strides=[2, 2])),
        "ConvolutionBackpropData": lambda: make("ConvolutionBackpropData", x, constant(f32(4, 3, 3, 3)),
                                                **window(strides=[2, 2], output_padding=[1, 1])),
        "GroupConvolutionBackpropData": lambda: make("GroupConvolutionBackpropData", x,
                                                     constant(f32(2, 2, 3, 3, 3)), **window(strides=[2, 2])),
        "MaxPool-ceil_torch": lambda: make("MaxPool", x, dilations=[1, 1], rounding_type="ceil_torch",
                                           **pool),
        "MaxPool-ceil": lambda: make("MaxPool", x, kernel=[2, 2], strides=[2, 2], pads_begin=[0, 0],
                                     pads_end=[0, 0], dilations=[1, 1], rounding_type="ceil"),
        "AvgPool-exclude": lambda: make("AvgPool", x, rounding_type="floor", **pool,
                                        **{"exclude-pad": True}),
        "AvgPool-include": lambda: make("AvgPool", x, rounding_type="floor", **pool,
                                        **{"exclude-pad": False}),
        "AdaptiveAvgPool": lambda: make("AdaptiveAvgPool", x, i64(4, 3)),
        "AdaptiveMaxPool": lambda: make("AdaptiveMaxPool", x, i64(4, 3), index_element_type=ElementType.i32),
        "DeformableConvolution-pad": lambda: make(
            "DeformableConvolution", x, constant(3 * f32(1, 2 * 2 * 9, 9, 9)), constant(f32(6, 2, 3, 3)),
            constant(np.abs(f32(1, 2 * 9, 9, 9))), **window(), group=2, deformable_group=2,
            bilinear_interpolation_pad=True),
        "DeformableConvolution-nopad": lambda: make(
            "DeformableConvolution", x, constant(3 * f32(1, 2 * 9, 5, 5)), constant(f32(6, 4, 3, 3)),
            **window(strides=[2, 2]), bilinear_interpolation_pad=False),
        "ROIAlign-avg-half_pixel_for_nn": lambda: make(
            "ROIAlign", x, constant(ROIS), constant(np.array([0, 0, 0], np.int32)), pooled_h=2, pooled_w=2,
            sampling_ratio=0, spatial_scale=0.7, mode="avg", aligned_mode="half_pixel_for_nn"),
        "ROIAlign-avg-half_pixel": lambda: make(
            "ROIAlign", x, constant(ROIS), constant(np.array([0, 0, 0], np.int32)), pooled_h=3, pooled_w=2,
            sampling_ratio=2, spatial_scale=0.5, mode="avg", aligned_mode="half_pixel"),
        "ROIAlign-max-asymmetric": lambda: make(
            "ROIAlign", x, constant(ROIS), constant(np.array([0, 0, 0], np.int32)), pooled_h=2, pooled_w=3,
            sampling_ratio=0, spatial_scale=0.5, mode="max", aligned_mode="asymmetric"),
        "ROIPooling": lambda: make(
            "ROIPooling", x, constant(np.array([[0, 0, 0, 8, 8], [0, 1.4, 2.6, 7.2, 5.1], [0, -2, 3, 12, 8]],
                                               np.float32)), output_size=[3, 2], spatial_scale=0.8),
        "Gelu-tanh": lambda: make("Gelu", x, approximation_mode="TANH"),
        "Gelu-erf": lambda: make("Gelu", x),
        "HSwish": lambda: make("HSwish", x),
        "HSigmoid": lambda: make("HSigmoid", x),
        "Mish": lambda: make("Mish", x),
        "SoftPlus": lambda: make("SoftPlus", x),
        "SoftSign": lambda: make("SoftSign", x),
        "Swish": lambda: make("Swish", x, constant(np.float32(1.5))),
        "Elu": lambda: make("Elu", x, alpha=0.5),
        "Selu": lambda: make("Selu", x, constant(np.array([1.6], np.float32)),
                             constant(np.array([1.05], np.float32))),
        "HardSigmoid": lambda: make("HardSigmoid", x, scalar, scalar),
        "Clamp": lambda: make("Clamp", x, min=-0.5, max=0.7),
        "PRelu": lambda: make("PRelu", x, constant(f32(4))),
        "Softmax": lambda: make("Softmax", x, axis=1),
        "LogSoftmax": lambda: make("LogSoftmax", x, axis=-1),
        "Round": lambda: make("Round", make("Multiply", x, constant(np.float32(2))).output(0),
                              mode="half_away_from_zero"),
        "Erf": lambda: make("Erf", x),
        "MVN": lambda: make("MVN", x, i64(2, 3), normalize_variance=True, eps=1e-5, eps_mode="inside_sqrt"),
        "NormalizeL2": lambda: make("NormalizeL2", x, i64(1), eps=1e-6, eps_mode="add"),
        "LRN": lambda: make("LRN", x, i64(1), alpha=1e-3, beta=0.75, bias=1.0, size=3),
        "GroupNormalization": lambda: make("GroupNormalization", x, constant(f32(4)), constant(f32(4)),
                                           num_groups=2, epsilon=1e-5),
        "BatchNormInference": lambda: make("BatchNormInference", x, constant(f32(4)), constant(f32(4)),
                                           constant(f32(4)), constant(np.abs(f32(4)) + 0.5), epsilon=1e-5),
        "FakeQuantize": lambda: make("FakeQuantize", x, constant(np.float32(-1)), constant(np.float32(1)),
                                     constant(np.float32(-0.5)), constant(np.float32(0.5)), levels=16),
        "MatMul": lambda: make("MatMul", x, constant(f32(5, 9)), transpose_b=True),
        "Einsum": lambda: make("Einsum", x, constant(f32(9, 5)), equation="bchw,wk->bchk"),
        "Divide": lambda: make("Divide", x, constant(np.float32(3))),
        "SquaredDifference": lambda: make("SquaredDifference", x, scalar),
        "FloorMod": lambda: make("FloorMod", x, constant(np.float32(0.7))),
        "Greater": lambda: make("Greater", x, scalar),
        "IsInf": lambda: make("IsInf", x, detect_negative=False),
    }


def sequence_cases(s):
    def build(kind, gates, states, direction, **extra):
        dirs = 2 if direction == "bidirectional" else 1
        bias = (4 if extra.get("linear_before_reset") else gates) * 4
        inputs = [s] + [constant(f32(2, dirs, 4))] * states + [
            constant(np.array([5, 3], np.int32)), constant(f32(dirs, gates * 4, 3)),
            constant(f32(dirs, gates * 4, 4)), constant(f32(dirs, bias))]
        return make(kind, *inputs, hidden_size=4, activations=[], direction=direction, **extra)

    return {
        "RNNSequence": lambda: build("RNNSequence", 1, 1, "forward"),
        "GRUSequence-reverse": lambda: build("GRUSequence", 3, 1, "reverse", linear_before_reset=True),
        "LSTMSequence-bidirectional": lambda: build("LSTMSequence", 4, 2, "bidirectional"),
    }


X = parameter("x", ElementType.f32, (1, 4, 9, 9))
S = parameter("s", ElementType.f32, (2, 5, 3))
CASES = {**{name: (X, build) for name, build in image_cases(X.output(0)).items()},
         **{name: (S, build) for name, build in sequence_cases(S.output(0)).items()}}
FEEDS = {"x": f32(1, 4, 9, 9), "s": f32(2, 5, 3)}


@pytest.mark.parametrize("name", sorted(CASES))
def test_openvino_runs_kiln_ir_like_the_reference(name, tmp_path):
    param, build = CASES[name]
    node = build()
    model = Model(node.outputs, [param], name=name)
    feeds = {param.name: FEEDS[param.name]}
    expected = evaluate(model, feeds)
    path = tmp_path / "model.xml"
    save_model(model, path)
    core = ov.Core()
    compiled = core.compile_model(core.read_model(str(path)), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    got = compiled(feeds)
    for i, value in enumerate(expected):
        np.testing.assert_allclose(np.asarray(got[i]).astype(np.float64), value.astype(np.float64),
                                   rtol=1e-5, atol=1e-5)


INTEGER_CASES = {
    "Divide-truncating": lambda x, b: make("Divide", x, b, m_pythondiv=False),
    "FloorMod": lambda x, b: make("FloorMod", x, b),
    "Mod": lambda x, b: make("Mod", x, b),
    "Power": lambda x, b: make("Power", x, make("Abs", b).output(0)),
    "Clamp": lambda x, b: make("Clamp", x, min=-2.5, max=3.5),
    "BitwiseRightShift": lambda x, b: make("BitwiseRightShift", x, make("Abs", b).output(0)),
}


@pytest.mark.parametrize("name", sorted(INTEGER_CASES))
def test_openvino_integer_semantics(name, tmp_path):
    """Integer rounding and sign rules agree with OpenVINO. (Divide with ``m_pythondiv=true`` is
    left out: OpenVINO's CPU plugin truncates there although its spec floors, as Kiln does.)"""
    x = parameter("x", ElementType.i32, (6,))
    b = constant(np.array([2, -2, 3, -3, 4, 5], np.int32))
    model = Model([INTEGER_CASES[name](x.output(0), b).output(0)], [x])
    feeds = {"x": np.array([7, -7, -7, 7, 0, -9], np.int32)}
    save_model(model, tmp_path / "model.xml")
    core = ov.Core()
    got = core.compile_model(core.read_model(str(tmp_path / "model.xml")), "CPU")(feeds)[0]
    np.testing.assert_array_equal(got, evaluate(model, feeds)[0])


@pytest.mark.parametrize("name", sorted(CASES))
def test_kiln_reads_back_its_own_ir(name, tmp_path):
    from kiln import Core

    param, build = CASES[name]
    node = build()
    model = Model(node.outputs, [param], name=name)
    feeds = {param.name: FEEDS[param.name]}
    save_model(model, tmp_path / "model.xml")
    back = Core().read_model(tmp_path / "model.xml")
    for expected, got in zip(evaluate(model, feeds), evaluate(back, feeds)):
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)
