"""IR-level checks of the NN / math ops: shape inference with dynamic dims, error messages, and
numpy references against naive loop implementations of the OpenVINO definitions."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from kiln.errors import ShapeInferenceError, UnsupportedOpError
from kiln.ir import ElementType, Model, constant, evaluate, make, parameter

RNG = np.random.default_rng(3)


def run(node_type, *arrays, **attrs):
    """Evaluate one op on constant inputs; return its outputs."""
    node = make(node_type, *[constant(a) for a in arrays], **attrs)
    return node.op.evaluate(node, list(arrays))


def test_convolution_shape_inference_keeps_dynamic_dims():
    x = parameter("x", ElementType.f32, (None, 3, None, 17))
    w = constant(np.zeros((8, 3, 3, 3), np.float32))
    conv = make("Convolution", x.output(0), w, strides=[2, 2], dilations=[1, 1], pads_begin=[1, 1],
                pads_end=[1, 1])
    assert conv.output(0).shape == (None, 8, None, 9)
    same = make("Convolution", x.output(0), w, strides=[2, 2], dilations=[1, 1], pads_begin=[0, 0],
                pads_end=[0, 0], auto_pad="same_upper")
    assert same.output(0).shape == (None, 8, None, 9)


def test_convolution_errors_name_the_node():
    x = parameter("x", ElementType.f32, (1, 4, 8, 8))
    w = constant(np.zeros((8, 3, 3, 3), np.float32))
    with pytest.raises(ShapeInferenceError, match="conv7.*4 channels"):
        make("Convolution", x.output(0), w, name="conv7", strides=[1, 1], dilations=[1, 1],
             pads_begin=[0, 0], pads_end=[0, 0])
    big = constant(np.zeros((8, 4, 11, 11), np.float32))
    with pytest.raises(ShapeInferenceError, match="conv8.*larger than the padded input"):
        make("Convolution", x.output(0), big, name="conv8", strides=[1, 1], dilations=[1, 1],
             pads_begin=[0, 0], pads_end=[0, 0])
    with pytest.raises(UnsupportedOpError, match="auto_pad"):
        make("Convolution", x.output(0), constant(np.zeros((2, 4, 3, 3), np.float32)), strides=[1, 1],
             dilations=[1, 1], pads_begin=[0, 0], pads_end=[0, 0], auto_pad="middle")


def naive_conv2d(x, w, stride, pad, dilation, groups):
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    xp = np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)])
    oh = (h + 2 * pad - dilation * (kh - 1) - 1) // stride + 1
    ow = (wd + 2 * pad - dilation * (kw - 1) - 1) // stride + 1
    y = np.zeros((n, o, oh, ow))
    per_group = o // groups
    for b, oc, i, j in itertools.product(range(n), range(o), range(oh), range(ow)):
        g = oc // per_group
        patch = xp[b, g * cg:(g + 1) * cg, i * stride:i * stride + dilation * (kh - 1) + 1:dilation,
                   j * stride:j * stride + dilation * (kw - 1) + 1:dilation]
        y[b, oc, i, j] = np.sum(patch * w[oc])
    return y


@pytest.mark.parametrize("groups", [1, 2, 4])
def test_group_convolution_matches_naive_loop(groups):
    x = RNG.normal(size=(2, 4, 7, 6)).astype(np.float32)
    w = RNG.normal(size=(8, 4 // groups, 3, 2)).astype(np.float32)
    attrs = dict(strides=[2, 1], dilations=[1, 1], pads_begin=[1, 1], pads_end=[1, 1])
    if groups == 1:
        got = run("Convolution", x, w, **attrs)[0]
    else:
        got = run("GroupConvolution", x, w.reshape(groups, 8 // groups, *w.shape[1:]), **attrs)[0]
    naive = naive_conv2d(x, np.pad(w, [(0, 0)] * 4), 1, 1, 1, groups)
    np.testing.assert_allclose(got, naive[:, :, ::2, :], rtol=1e-5, atol=1e-5)
    assert got.dtype == np.float32


def test_transposed_convolution_is_the_adjoint_of_convolution():
    x = RNG.normal(size=(1, 3, 9, 8)).astype(np.float64)
    w = RNG.normal(size=(4, 3, 3, 3)).astype(np.float64)
    attrs = dict(strides=[2, 2], dilations=[1, 2], pads_begin=[1, 0], pads_end=[1, 2])
    y = run("Convolution", x, w, **attrs)[0]
    g = RNG.normal(size=y.shape)
    # <conv(x), g> == <x, conv_transpose(g)> with the filters read as (C_in=4, C_out=3)
    back = run("ConvolutionBackpropData", g, w, **attrs, output_padding=[0, 1])[0]
    assert back.shape == x.shape
    np.testing.assert_allclose(np.sum(y * g), np.sum(x * back), rtol=1e-10)


def test_max_pool_values_and_indices():
    x = RNG.normal(size=(2, 3, 5, 6)).astype(np.float32)
    values, indices = run("MaxPool", x, kernel=[2, 3], strides=[2, 2], pads_begin=[0, 1], pads_end=[1, 1],
                          dilations=[1, 1], rounding_type="floor")
    assert values.shape == indices.shape == (2, 3, 3, 3)
    np.testing.assert_array_equal(x.reshape(-1)[indices], values)
    assert indices.dtype == np.int64
    _, local = run("MaxPool", x, kernel=[2, 2], strides=[2, 2], pads_begin=[0, 0], pads_end=[0, 0],
                   dilations=[1, 1], axis=2, index_element_type=ElementType.i32)
    assert local.dtype == np.int32 and local.max() < 30


@pytest.mark.parametrize("size,kernel,expected", [
    (6, 3, {"floor": 3, "ceil": 4, "ceil_torch": 4}),  # the extra window starts inside the input
    (5, 2, {"floor": 3, "ceil": 4, "ceil_torch": 3}),  # the extra window would start in the end padding
])
def test_pool_rounding_types(size, kernel, expected):
    x = parameter("x", ElementType.f32, (1, 1, size, size))
    for rounding, out in expected.items():
        node = make("MaxPool", x.output(0), kernel=[kernel, kernel], strides=[2, 2], pads_begin=[1, 1],
                    pads_end=[1, 1], rounding_type=rounding)
        assert node.output(0).shape == (1, 1, out, out), rounding


def test_adaptive_pools_match_bins():
    x = RNG.normal(size=(1, 2, 7, 5)).astype(np.float32)
    size = np.array([3, 2], np.int64)
    avg = run("AdaptiveAvgPool", x, size)[0]
    peak, index = run("AdaptiveMaxPool", x, size)
    for i, j in itertools.product(range(3), range(2)):
        rows = slice(i * 7 // 3, -(-(i + 1) * 7 // 3))
        cols = slice(j * 5 // 2, -(-(j + 1) * 5 // 2))
        np.testing.assert_allclose(avg[:, :, i, j], x[:, :, rows, cols].mean(axis=(2, 3)), rtol=1e-6)
        np.testing.assert_allclose(peak[:, :, i, j], x[:, :, rows, cols].max(axis=(2, 3)))
    np.testing.assert_array_equal(np.take_along_axis(x.reshape(1, 2, -1), index.reshape(1, 2, -1), 2),
                                  peak.reshape(1, 2, -1))


def test_fake_quantize_matches_openvino_formula():
    x = RNG.uniform(-3, 3, (2, 3, 4)).astype(np.float32)
    il = np.array([-1.0, -2.0, 0.5], np.float32).reshape(1, 3, 1)
    ih = np.array([1.0, 2.0, 2.5], np.float32).reshape(1, 3, 1)
    ol, oh = np.float32(-0.5), np.float32(0.5)
    got = run("FakeQuantize", x, il, ih, np.array(ol), np.array(oh), levels=5)[0]
    expected = np.empty_like(x)
    for idx in np.ndindex(x.shape):
        lo, hi = il[0, idx[1], 0], ih[0, idx[1], 0]
        v = x[idx]
        if v <= min(lo, hi):
            expected[idx] = ol
        elif v > max(lo, hi):
            expected[idx] = oh
        else:
            expected[idx] = np.round((v - lo) / (hi - lo) * 4) / 4 * (oh - ol) + ol
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_divide_integer_rounding_modes():
    a = np.array([7, -7, 7, -7], np.int32)
    b = np.array([2, 2, -2, 0], np.int32)
    assert run("Divide", a, b)[0].tolist() == [3, -4, -4, 0]
    assert run("Divide", a, b, m_pythondiv=False)[0].tolist() == [3, -3, -3, 0]
    assert run("FloorMod", a, b)[0].tolist() == [1, 1, -1, 0]
    assert run("Mod", a, b)[0].tolist() == [1, -1, 1, 0]


def test_round_clamp_prelu_details():
    x = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5], np.float32)
    assert run("Round", x)[0].tolist() == [-2, -2, -0, 0, 2, 2]
    assert run("Round", x, mode="half_away_from_zero")[0].tolist() == [-3, -2, -1, 1, 2, 3]
    ints = np.arange(-4, 5, dtype=np.int8)
    assert run("Clamp", ints, min=-2.5, max=1.5)[0].tolist() == [-2, -2, -2, -1, 0, 1, 1, 1, 1]
    data = -np.ones((1, 3, 2, 3), np.float32)
    per_channel = run("PRelu", data, np.array([1.0, 2.0, 3.0], np.float32))[0]
    assert per_channel[0, :, 0, 0].tolist() == [-1, -2, -3]


def test_activation_outputs_keep_element_type():
    for etype in (np.float16, np.float32):
        x = RNG.normal(size=(4,)).astype(etype)
        for op in ("Sigmoid", "Mish", "SoftPlus", "HSwish", "Erf", "Exp"):
            assert run(op, x)[0].dtype == etype, op
        assert run("Gelu", x, approximation_mode="TANH")[0].dtype == etype
        assert run("Softmax", x, axis=0)[0].dtype == etype


def test_matmul_shape_inference():
    a = parameter("a", ElementType.f32, (None, 1, 5, 4))
    b = parameter("b", ElementType.f32, (3, 6, 4))
    node = make("MatMul", a.output(0), b.output(0), transpose_b=True)
    assert node.output(0).shape == (None, 3, 5, 6)
    vec = parameter("v", ElementType.f32, (4,))
    assert make("MatMul", a.output(0), vec.output(0)).output(0).shape == (None, 1, 5)
    with pytest.raises(ShapeInferenceError, match="inner dims"):
        make("MatMul", a.output(0), b.output(0))


def test_normalizations_against_formulas():
    x = RNG.normal(size=(2, 6, 3, 3)).astype(np.float32)
    axes = np.array([1, 2, 3], np.int64)
    mvn = run("MVN", x, axes, normalize_variance=True, eps=1e-6, eps_mode="inside_sqrt")[0]
    mean, var = x.mean(axis=(1, 2, 3), keepdims=True), x.var(axis=(1, 2, 3), keepdims=True)
    np.testing.assert_allclose(mvn, (x - mean) / np.sqrt(var + 1e-6), rtol=1e-4, atol=1e-5)
    l2 = run("NormalizeL2", x, np.array([1], np.int64), eps=1e-12, eps_mode="max")[0]
    np.testing.assert_allclose(np.sum(l2 * l2, axis=1), 1.0, rtol=1e-5)
    gn = run("GroupNormalization", x, np.ones(6, np.float32), np.zeros(6, np.float32), num_groups=2,
             epsilon=1e-5)[0]
    grouped = x.reshape(2, 2, -1)
    expected = (grouped - grouped.mean(-1, keepdims=True)) / np.sqrt(grouped.var(-1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(gn, expected.reshape(x.shape), rtol=1e-4, atol=1e-5)


def test_model_with_dynamic_batch_runs():
    x = parameter("x", ElementType.f32, (None, 2, 6, 6))
    w = constant(RNG.normal(size=(2, 1, 1, 3, 3)).astype(np.float32))
    y = make("GroupConvolution", x.output(0), w, strides=[1, 1], dilations=[1, 1], pads_begin=[1, 1],
             pads_end=[1, 1])
    y = make("AvgPool", y.output(0), kernel=[2, 2], strides=[2, 2], pads_begin=[0, 0], pads_end=[0, 0],
             **{"exclude-pad": True})
    model = Model([y.output(0)], [x])
    assert model.outputs[0].shape == (None, 2, 3, 3)
    for batch in (1, 3):
        out = evaluate(model, {"x": np.ones((batch, 2, 6, 6), np.float32)})[0]
        assert out.shape == (batch, 2, 3, 3)


@pytest.mark.parametrize("equation,shapes", [
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]), ("ii->i", [(3, 3)]), ("ij->", [(3, 4)]),
    ("...ij,...jk->...ik", [(2, 1, 3, 4), (5, 4, 6)]), ("ij,jk", [(3, 4), (4, 5)]), ("ba", [(3, 4)]),
    ("bhqd,bhkd->bhqk", [(2, 4, 5, 8), (2, 4, 6, 8)]), ("...j,j", [(2, 3, 4), (4,)]),
])
def test_einsum_shape_inference(equation, shapes):
    values = [RNG.normal(size=s).astype(np.float32) for s in shapes]
    static = make("Einsum", *[constant(v) for v in values], equation=equation)
    assert static.output(0).shape == np.einsum(equation, *values).shape
    np.testing.assert_allclose(static.op.evaluate(static, values)[0], np.einsum(equation, *values), rtol=1e-5)
    dynamic = make("Einsum", *[parameter(f"p{i}", ElementType.f32, (None,) + s[1:]).output(0)
                               for i, s in enumerate(shapes)], equation=equation)
    assert len(dynamic.output(0).shape) == len(static.output(0).shape)


def test_einsum_rejects_mismatched_labels():
    with pytest.raises(ShapeInferenceError, match="label 'j'"):
        make("Einsum", constant(np.zeros((3, 4), np.float32)), constant(np.zeros((5, 6), np.float32)),
             equation="ij,jk->ik")
