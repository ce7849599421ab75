"""Every CPU kernel against the numpy reference of the IR ops it replaces."""

from __future__ import annotations

import numpy as np
import pytest
from kiln.drivers.cpu.executable import CpuExecutable
from kiln.drivers.cpu.gemm import BLAS
from kiln.ir import ElementType, Model, constant, evaluate, make, parameter

F32 = ElementType.f32


def run_both(model: Model, inputs: list[np.ndarray]):
    executable = CpuExecutable(model, profiling=True)
    return executable, executable.infer(inputs), evaluate(model, inputs)


def check(model: Model, inputs: list[np.ndarray], kernels: set[str] | None = None, tol: float = 1e-4):
    executable, got, want = run_both(model, inputs)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol * max(1.0, float(np.abs(w).max())))
    used = {row["exec_type"] for row in executable.profiling_info()}
    if kernels is not None:
        assert kernels <= used, f"expected kernels {kernels}, ran {used}"
    return executable


def const(rng, shape, scale=1.0):
    return constant((rng.standard_normal(shape) * scale).astype(np.float32))


@pytest.mark.parametrize("kernel,stride,pad,dilation,groups", [
    (3, 1, 1, 1, 1), (3, 2, 1, 1, 1), (1, 1, 0, 1, 1), (1, 2, 0, 1, 1), (5, 2, 2, 1, 1), (3, 1, 2, 2, 1),
    (3, 1, 1, 1, 2), (1, 1, 0, 1, 4), (3, 2, 0, 1, 1), (7, 2, 3, 1, 1),
    (3, 2, 1, 2, 1), (3, 2, 1, 1, 2), (2, 2, 0, 1, 1),  # stride 2 unfolds from even/odd column planes
])
def test_convolution_matches_reference(kernel, stride, pad, dilation, groups):
    rng = np.random.default_rng(kernel * 100 + stride * 10 + groups)
    c_in, c_out = 8, 12
    x = parameter("x", F32, (2, c_in, 13, 11))
    attrs = dict(strides=[stride] * 2, dilations=[dilation] * 2, pads_begin=[pad] * 2, pads_end=[pad] * 2)
    if groups == 1:
        conv = make("Convolution", x.output(0), const(rng, (c_out, c_in, kernel, kernel)), **attrs)
    else:
        w = const(rng, (groups, c_out // groups, c_in // groups, kernel, kernel))
        conv = make("GroupConvolution", x.output(0), w, **attrs)
    model = Model([conv.output(0)], [x])
    kind = "sgemm_1x1" if kernel == 1 and stride == 1 else "im2col_sgemm"
    check(model, [rng.standard_normal((2, c_in, 13, 11)).astype(np.float32)], {kind})


@pytest.mark.parametrize("stride,pad,multiplier,dilation", [
    (1, 1, 1, 1), (2, 1, 1, 1), (2, 0, 1, 1), (1, 1, 2, 1), (1, 2, 1, 2), (1, 0, 1, 1), (2, 2, 1, 2),
    (1, 2, 1, 1)])
def test_depthwise_convolution_with_relu6_epilogue(stride, pad, multiplier, dilation):
    rng = np.random.default_rng(stride + 10 * pad)
    channels = 6
    x = parameter("x", F32, (1, channels, 15, 14))
    w = const(rng, (channels, multiplier, 1, 3, 3))
    conv = make("GroupConvolution", x.output(0), w, strides=[stride] * 2, dilations=[dilation] * 2,
                pads_begin=[pad] * 2, pads_end=[pad] * 2)
    bias = make("Add", conv.output(0), const(rng, (1, channels * multiplier, 1, 1)))
    clamp = make("Clamp", bias.output(0), min=0.0, max=6.0)
    check(Model([clamp.output(0)], [x]), [rng.standard_normal((1, channels, 15, 14)).astype(np.float32)],
          {"numba_depthwise"})


@pytest.mark.parametrize("kernel,stride,pads,activation", [
    (3, 2, ([1, 1], [0, 0]), "Relu"), (3, 3, ([1, 0], [1, 2]), None), (3, 2, ([0, 1], [2, 1]), "Clamp"),
    (5, 2, ([2, 2], [2, 2]), "Relu"), (3, 1, ([0, 1], [1, 0]), None)])
def test_depthwise_folds_bias_and_activation(kernel, stride, pads, activation):
    rng = np.random.default_rng(kernel * 10 + stride)
    channels = 5
    x = parameter("x", F32, (2, channels, 12, 9))
    w = const(rng, (channels, 1, 1, kernel, kernel))
    conv = make("GroupConvolution", x.output(0), w, strides=[stride] * 2, dilations=[1, 1],
                pads_begin=pads[0], pads_end=pads[1])
    y = make("Add", const(rng, (channels, 1, 1)), conv.output(0))
    if activation == "Relu":
        y = make("Relu", y.output(0))
    elif activation == "Clamp":
        y = make("Clamp", y.output(0), min=-0.5, max=0.5)
    y = make("Multiply", y.output(0), const(rng, (1, channels, 1, 1)))  # stays in the epilogue
    inputs = [rng.standard_normal((2, channels, 12, 9)).astype(np.float32)]
    executable = check(Model([y.output(0)], [x]), inputs, {"numba_depthwise"})
    step = next(s for s in executable._programs[((2, channels, 12, 9),)].steps
                if s.exec_type == "numba_depthwise")
    assert [op.name for op in step.step.chain.ops] == ["mul"]


def test_conv_batchnorm_residual_relu_fuse_into_one_step():
    rng = np.random.default_rng(1)
    x = parameter("x", F32, (1, 8, 10, 10))
    conv = make("Convolution", x.output(0), const(rng, (8, 8, 3, 3)), strides=[1, 1], dilations=[1, 1],
                pads_begin=[1, 1], pads_end=[1, 1])
    bn = make("BatchNormInference", conv.output(0), const(rng, 8), const(rng, 8), const(rng, 8),
              constant(np.abs(rng.standard_normal(8)).astype(np.float32) + 0.5), epsilon=1e-5)
    res = make("Add", bn.output(0), x.output(0))
    relu = make("Relu", res.output(0))
    executable = check(Model([relu.output(0)], [x]), [rng.standard_normal((1, 8, 10, 10)).astype(np.float32)])
    steps = executable.profiling_info()
    assert len(steps) == 1
    assert steps[0]["node_type"] == "Convolution+BatchNormInference+Add+Relu"


@pytest.mark.parametrize("kind,kernel,stride,pads,exclude,rounding", [
    ("MaxPool", 3, 2, (1, 1), True, "floor"), ("MaxPool", 2, 2, (0, 0), True, "ceil"),
    ("AvgPool", 3, 1, (1, 1), True, "floor"), ("AvgPool", 3, 1, (1, 1), False, "floor"),
    ("AvgPool", 2, 2, (0, 1), False, "ceil"), ("AvgPool", 3, 2, (0, 0), True, "ceil"),
    ("MaxPool", 3, 3, (1, 1), True, "ceil"), ("AvgPool", 2, 3, (1, 0), False, "floor"),
    ("MaxPool", 4, 2, (2, 1), True, "floor"), ("AvgPool", 5, 1, (2, 2), True, "floor"),
])
def test_pooling_matches_reference(kind, kernel, stride, pads, exclude, rounding):
    rng = np.random.default_rng(kernel)
    x = parameter("x", F32, (1, 3, 9, 10))
    attrs = dict(strides=[stride] * 2, pads_begin=[pads[0]] * 2, pads_end=[pads[1]] * 2, kernel=[kernel] * 2,
                 rounding_type=rounding)
    if kind == "AvgPool":
        attrs["exclude-pad"] = exclude
    pool = make(kind, x.output(0), **attrs)
    check(Model([pool.output(0)], [x]), [rng.standard_normal((1, 3, 9, 10)).astype(np.float32)],
          {f"numba_{kind.lower()}"})


@pytest.mark.parametrize("stride", [1, 2, 3])
def test_dilated_max_pool_propagates_nan(stride):
    rng = np.random.default_rng(stride)
    x = parameter("x", F32, (2, 3, 11, 12))
    pool = make("MaxPool", x.output(0), strides=[stride] * 2, pads_begin=[2, 1], pads_end=[1, 2],
                kernel=[3, 2], dilations=[2, 3], rounding_type="floor")
    value = rng.standard_normal((2, 3, 11, 12)).astype(np.float32)
    value[0, 1, 4, 5] = np.nan
    value[1, 2, 0, 0] = np.nan
    executable, got, want = run_both(Model([pool.output(0)], [x]), [value])
    np.testing.assert_array_equal(np.isnan(got[0]), np.isnan(want[0]))
    assert np.isnan(got[0]).any()
    np.testing.assert_allclose(got[0], want[0], rtol=1e-6)
    assert {row["exec_type"] for row in executable.profiling_info()} == {"numba_maxpool"}


def test_softmax_masked_extreme_and_nan_rows():
    rng = np.random.default_rng(5)
    x = parameter("x", F32, (6, 37))
    model = Model([make("Softmax", x.output(0), axis=1).output(0)], [x])
    values = (rng.standard_normal((6, 37)) * 30).astype(np.float32)
    values[1, :20] = -np.inf  # masked positions
    values[2] = -1e4
    values[2, 5] = 3.0
    values[3, 7] = np.nan
    values[4] = -np.inf
    executable, (got,), (want,) = run_both(model, [values])
    assert {row["exec_type"] for row in executable.profiling_info()} == {"numba_softmax"}
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    assert (got[1, :20] == 0).all() and np.isnan(got[3]).all() and np.isnan(got[4]).all()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


def test_matmul_softmax_layernorm_chain():
    rng = np.random.default_rng(2)
    x = parameter("x", F32, (2, 5, 16))
    mm = make("MatMul", x.output(0), const(rng, (16, 16)))
    bias = make("Add", mm.output(0), const(rng, (16,)))
    mvn = make("MVN", bias.output(0), constant(np.array([-1], np.int64)), normalize_variance=True, eps=1e-5,
               eps_mode="inside_sqrt")
    scale = make("Multiply", mvn.output(0), const(rng, (16,)))
    shift = make("Add", scale.output(0), const(rng, (16,)))
    q = make("MatMul", shift.output(0), shift.output(0), transpose_b=True)
    sm = make("Softmax", q.output(0), axis=-1)
    check(Model([sm.output(0)], [x]), [rng.standard_normal((2, 5, 16)).astype(np.float32)],
          {"sgemm", "numba_mvn", "numba_softmax"})


@pytest.mark.parametrize("ops", [
    [("Sigmoid", {}), ("Multiply", "x")], [("Tanh", {}), ("Subtract", "c")], [("Exp", {}), ("Divide", "c")],
    [("Erf", {}), ("Maximum", "x")], [("Gelu", {"approximation_mode": "ERF"})],
    [("Gelu", {"approximation_mode": "TANH"})], [("HSwish", {}), ("Minimum", "c")], [("Swish", {})],
    [("Elu", {"alpha": 0.5}), ("Abs", {}), ("Sqrt", {}), ("Log", {})], [("SoftPlus", {}), ("Negative", {})],
    [("Clamp", {"min": -0.5, "max": 0.25}), ("Power", "c2")], [("HSigmoid", {}), ("SquaredDifference", "x")],
])
def test_elementwise_chains_fuse_and_match(ops):
    rng = np.random.default_rng(len(ops))
    x = parameter("x", F32, (2, 3, 4, 5))
    consts = {"c": const(rng, (3, 1, 5)), "c2": constant(np.float32(2.0))}
    port = x.output(0)
    for op, arg in ops:
        if isinstance(arg, dict):
            port = make(op, port, **arg).output(0)
        else:
            port = make(op, port, x.output(0) if arg == "x" else consts[arg]).output(0)
    executable = check(Model([port], [x]), [rng.standard_normal((2, 3, 4, 5)).astype(np.float32)],
                       {"numba_fused_elementwise"})
    assert len(executable.profiling_info()) == 1


def test_broadcast_operands_of_every_class():
    rng = np.random.default_rng(3)
    x = parameter("x", F32, (2, 3, 4, 5))
    row = parameter("row", F32, (2, 3, 1, 1))
    col = parameter("col", F32, (5,))
    odd = parameter("odd", F32, (2, 1, 4, 1))
    port = make("Add", x.output(0), row.output(0)).output(0)
    port = make("Multiply", port, col.output(0)).output(0)
    port = make("Subtract", port, odd.output(0)).output(0)
    port = make("Divide", port, constant(np.float32(3.0))).output(0)
    shapes = [(2, 3, 4, 5), (2, 3, 1, 1), (5,), (2, 1, 4, 1)]
    check(Model([port], [x, row, col, odd]), [rng.standard_normal(s).astype(np.float32) for s in shapes],
          {"numba_fused_elementwise"})


def test_unsupported_ops_fall_back_to_reference_in_the_same_schedule():
    rng = np.random.default_rng(4)
    x = parameter("x", F32, (2, 6))
    t = make("Roll", x.output(0), constant(np.array([2], np.int64)), constant(np.array([1], np.int64)))
    r = make("Relu", t.output(0))
    executable = check(Model([r.output(0)], [x]), [rng.standard_normal((2, 6)).astype(np.float32)],
                       {"reference", "numba_fused_elementwise"})
    assert len(executable.profiling_info()) == 2


def test_integer_models_run_through_the_reference():
    x = parameter("x", ElementType.i32, (3,))
    y = make("Add", x.output(0), constant(np.array([1, 2, 3], np.int32)))
    _, got, want = run_both(Model([y.output(0)], [x]), [np.array([4, 5, 6], np.int32)])
    np.testing.assert_array_equal(got[0], want[0])
    assert got[0].dtype == np.int32


@pytest.mark.parametrize("slope_shape", [(4,), (1, 4, 1, 1), ()])
def test_prelu_slope_follows_channels(slope_shape):
    rng = np.random.default_rng(6)
    x = parameter("x", F32, (2, 4, 3, 4))
    slope = constant(rng.random(slope_shape).astype(np.float32))
    y = make("PRelu", make("Add", x.output(0), constant(np.float32(0.1))).output(0), slope)
    check(Model([y.output(0)], [x]), [rng.standard_normal((2, 4, 3, 4)).astype(np.float32)])


@pytest.mark.skipif(BLAS is None, reason="shifted GEMMs need Kiln's private BLAS (KILN_PRIVATE_BLAS=0)")
@pytest.mark.parametrize("kernel,pads_begin,pads_end,dilation,batch", [
    (3, (1, 1), (1, 1), 1, 1), (3, (0, 0), (0, 0), 1, 2), (5, (2, 2), (2, 2), 1, 1),
    (3, (2, 2), (2, 2), 2, 1), (3, (1, 0), (1, 2), 1, 1), (1, (1, 1), (1, 1), 1, 1),
])
def test_shifted_gemm_convolution_with_folded_batchnorm(kernel, pads_begin, pads_end, dilation, batch):
    rng = np.random.default_rng(kernel * 10 + dilation)
    c_in, c_out = 64, 32
    x = parameter("x", F32, (batch, c_in, 18, 17))
    conv = make("Convolution", x.output(0), const(rng, (c_out, c_in, kernel, kernel)), strides=[1, 1],
                dilations=[dilation] * 2, pads_begin=list(pads_begin), pads_end=list(pads_end))
    bn = make("BatchNormInference", conv.output(0), const(rng, c_out), const(rng, c_out), const(rng, c_out),
              constant(np.abs(rng.standard_normal(c_out)).astype(np.float32) + 0.5), epsilon=1e-5)
    relu = make("Relu", bn.output(0))
    check(Model([relu.output(0)], [x]), [rng.standard_normal((batch, c_in, 18, 17)).astype(np.float32)],
          {"shifted_sgemm"})


@pytest.mark.parametrize("shape,order,kernel", [
    ((1, 3, 4, 5, 6), (0, 2, 1, 3, 4), "numba_transpose"),   # channel shuffle: contiguous planes
    ((2, 3, 4, 5), (2, 0, 1, 3), "numba_transpose"),
    ((4, 1, 6, 3), (2, 1, 0, 3), "numba_transpose"),         # a size-1 axis
    ((2, 3, 4, 5), (3, 1, 0, 2), "reference"),                # the last axis moves: a strided view
    ((3, 4, 5), (), "reference"),                              # empty order reverses
])
def test_transpose_copies_in_output_order(shape, order, kernel):
    rng = np.random.default_rng(len(shape))
    x = parameter("x", F32, shape)
    transposed = make("Transpose", x.output(0), constant(np.array(order, np.int64)))
    model = Model([make("Relu", transposed.output(0)).output(0)], [x])
    check(model, [rng.standard_normal(shape).astype(np.float32)], {kernel}, tol=0)


@pytest.mark.parametrize("kind,axes,keep", [
    ("ReduceMean", [2, 3], True), ("ReduceSum", [-1], False), ("ReduceMax", [1, 2, 3], True),
    ("ReduceMin", [3], True),
])
def test_trailing_reductions(kind, axes, keep):
    rng = np.random.default_rng(len(axes))
    x = parameter("x", F32, (2, 5, 6, 7))
    value = rng.standard_normal((2, 5, 6, 7)).astype(np.float32)
    value[1, 2, 3, 4] = np.nan
    node = make(kind, x.output(0), constant(np.array(axes, np.int64)), keep_dims=keep)
    executable, got, want = run_both(Model([node.output(0)], [x]), [value])
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-5)
    assert {row["exec_type"] for row in executable.profiling_info()} == {f"numba_{kind.lower()}"}


@pytest.mark.parametrize("kind", ["MaxPool", "AvgPool"])
def test_global_pooling_window_reduces_whole_planes(kind):
    rng = np.random.default_rng(3)
    x = parameter("x", F32, (1, 6, 7, 7))
    attrs = dict(strides=[1, 1], pads_begin=[0, 0], pads_end=[0, 0], kernel=[7, 7], rounding_type="floor")
    if kind == "AvgPool":
        attrs["exclude-pad"] = False
    pool = make(kind, x.output(0), **attrs)
    check(Model([pool.output(0)], [x]), [rng.standard_normal((1, 6, 7, 7)).astype(np.float32)],
          {f"numba_{kind.lower()}"}, tol=1e-5)
