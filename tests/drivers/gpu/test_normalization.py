"""Softmax, MVN, reductions, Transpose and Concat on the GPU against the numpy reference."""

from __future__ import annotations

import numpy as np
import pytest
from gpu_models import check
from kiln.ir import ElementType, Model, constant, make, parameter


def _rand(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32) * 3


@pytest.mark.parametrize("shape, axis", [((3, 5), -1), ((2, 3, 40), 2), ((2, 200), 1)])
def test_softmax_matches_reference(shape, axis):
    x = parameter("x", ElementType.f32, shape)
    y = make("Softmax", x.output(0), axis=axis, name="softmax").output(0)
    compiled = check(Model([y], [x]), [_rand(shape, 0)], rtol=1e-5, atol=1e-7)
    assert [r["exec_type"] for r in compiled.executable.describe()] == ["upload", "cuda_softmax", "download"]


@pytest.mark.parametrize("axes, normalize_variance, eps_mode", [
    ([-1], True, "inside_sqrt"), ([1, 2], True, "outside_sqrt"), ([-1], False, "inside_sqrt")])
def test_mvn_with_affine_epilogue_matches_reference(axes, normalize_variance, eps_mode):
    x = parameter("x", ElementType.f32, (2, 3, 6))
    y = make("MVN", x.output(0), constant(np.array(axes, np.int64)), normalize_variance=normalize_variance,
             eps=1e-5, eps_mode=eps_mode, name="mvn").output(0)
    y = make("Multiply", y, constant(np.linspace(0.5, 1.5, 6, dtype=np.float32)), name="gamma").output(0)
    y = make("Add", y, constant(np.full(6, 0.25, np.float32)), name="beta").output(0)
    compiled = check(Model([y], [x]), [_rand((2, 3, 6), 0) + 5], rtol=1e-4, atol=1e-5)
    kernels = [r for r in compiled.executable.describe() if r["operation"] == "kernel"]
    assert kernels[0]["exec_type"] == "cuda_mvn" and kernels[0]["fused_nodes"] == ["mvn", "gamma", "beta"]


def test_softmax_over_a_leading_axis_runs_on_host():
    x = parameter("x", ElementType.f32, (3, 4))
    y = make("Softmax", x.output(0), axis=0, name="softmax").output(0)
    compiled = check(Model([y], [x]), [_rand((3, 4), 0)], rtol=1e-5, atol=1e-7)
    assert [r["operation"] for r in compiled.executable.describe()] == ["host"]


@pytest.mark.parametrize("shape, order", [((2, 3, 4), [2, 0, 1]), ((1, 4, 2, 3), [0, 2, 1, 3]),
                                          ((3, 1, 5), [])])
def test_transpose_matches_reference(shape, order):
    x = parameter("x", ElementType.f32, shape)
    y = make("Relu", x.output(0), name="relu").output(0)  # a device producer: the transpose stays there
    y = make("Transpose", y, constant(np.array(order, np.int64)), name="t").output(0)
    compiled = check(Model([y], [x]), [_rand(shape, 0)])
    assert "cuda_transpose" in [r["exec_type"] for r in compiled.executable.describe()]


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concat_matches_reference(axis):
    shapes = [(2, 3, 4), (2, 3, 4), (2, 3, 4)]
    shapes[1] = tuple(1 if d == axis % 3 else s for d, s in enumerate(shapes[1]))
    params = [parameter(f"x{i}", ElementType.f32, s) for i, s in enumerate(shapes)]
    y = make("Concat", *[p.output(0) for p in params], axis=axis, name="cat").output(0)
    compiled = check(Model([y], params), [_rand(s, i) for i, s in enumerate(shapes)])
    assert "cuda_concat" in [r["exec_type"] for r in compiled.executable.describe()]


@pytest.mark.parametrize("op", ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin"])
@pytest.mark.parametrize("axes, keep_dims", [([2, 3], True), ([-1], False), ([1, 2, 3], False)])
def test_trailing_reduction_with_epilogue_matches_reference(op, axes, keep_dims):
    x = parameter("x", ElementType.f32, (2, 2, 3, 5))
    axes = constant(np.array(axes, np.int64))
    y = make(op, x.output(0), axes, keep_dims=keep_dims, name="reduce").output(0)
    y = make("Relu", y, name="relu").output(0)
    compiled = check(Model([y], [x]), [_rand((2, 2, 3, 5), 0)], rtol=1e-5, atol=1e-5)
    kernels = [r for r in compiled.executable.describe() if r["operation"] == "kernel"]
    assert kernels[0]["exec_type"] == f"cuda_{op.lower()}" and kernels[0]["fused_nodes"] == ["reduce", "relu"]


def test_reduction_over_a_leading_axis_runs_on_host():
    x = parameter("x", ElementType.f32, (3, 4))
    y = make("ReduceSum", x.output(0), constant(np.array([0], np.int64)), keep_dims=False, name="r").output(0)
    compiled = check(Model([y], [x]), [_rand((3, 4), 0)], rtol=1e-5)
    assert [r["operation"] for r in compiled.executable.describe()] == ["host"]
