"""Fused elementwise chains on the GPU against the numpy reference: every op, broadcasting, fusion."""

from __future__ import annotations

import numpy as np
import pytest
from gpu_models import check, compile_gpu
from kiln.ir import ElementType, Model, constant, make, parameter

SHAPE = (2, 3, 4)
UNARY = [("Relu", {}), ("Sigmoid", {}), ("Tanh", {}), ("Exp", {}), ("Abs", {}), ("Negative", {}),
         ("Erf", {}), ("Floor", {}), ("Ceiling", {}), ("HSwish", {}), ("HSigmoid", {}), ("SoftPlus", {}),
         ("Mish", {}), ("Swish", {}), ("Clamp", {"min": -0.5, "max": 0.7}), ("Elu", {"alpha": 0.3}),
         ("Gelu", {"approximation_mode": "ERF"}), ("Gelu", {"approximation_mode": "TANH"})]
POSITIVE = ["Log", "Sqrt"]
BINARY = ["Add", "Subtract", "Multiply", "Divide", "Maximum", "Minimum", "SquaredDifference", "PRelu"]


def _x(seed=0, shape=SHAPE):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32) * 2


@pytest.mark.parametrize("op, attrs", UNARY, ids=[f"{o}-{a.get('approximation_mode', '')}" for o, a in UNARY])
def test_unary_op_matches_reference(op, attrs):
    x = parameter("x", ElementType.f32, SHAPE)
    y = make(op, x.output(0), name="y", **attrs).output(0)
    check(Model([y], [x]), [_x()], rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("op", POSITIVE)
def test_positive_domain_op_matches_reference(op):
    x = parameter("x", ElementType.f32, SHAPE)
    y = make(op, x.output(0), name="y").output(0)
    check(Model([y], [x]), [np.abs(_x()) + 0.1], rtol=2e-5)


@pytest.mark.parametrize("op", BINARY)
@pytest.mark.parametrize("other_shape", [SHAPE, (3, 1), (4,)], ids=["full", "row", "col"])
def test_binary_op_with_broadcast_matches_reference(op, other_shape):
    x, w = parameter("x", ElementType.f32, SHAPE), parameter("w", ElementType.f32, other_shape)
    y = make(op, x.output(0), w.output(0), name="y").output(0)
    other = _x(1, other_shape)
    if op == "Divide":
        other = np.where(np.abs(other) < 0.3, 0.3, other).astype(np.float32)
    check(Model([y], [x, w]), [_x(), other], rtol=2e-5, atol=2e-6)


def test_power_matches_reference():
    x, w = parameter("x", ElementType.f32, SHAPE), parameter("w", ElementType.f32, (4,))
    y = make("Power", x.output(0), w.output(0), name="y").output(0)
    check(Model([y], [x, w]), [np.abs(_x()) + 0.1, np.array([0.5, 2, -1, 3], np.float32)], rtol=2e-5)


def test_chain_fuses_into_one_kernel_with_constants_and_scalars():
    x, r = parameter("x", ElementType.f32, (2, 3, 4, 5)), parameter("r", ElementType.f32, (2, 3, 4, 5))
    t = make("Multiply", x.output(0), constant(np.linspace(0.5, 2, 3, dtype=np.float32).reshape(1, 3, 1, 1)),
             name="scale").output(0)
    t = make("Add", t, constant(np.arange(5, dtype=np.float32) * 0.1), name="shift").output(0)
    t = make("Add", t, r.output(0), name="residual").output(0)
    t = make("Multiply", t, constant(np.array(0.5, np.float32)), name="half").output(0)
    t = make("Sigmoid", t, name="act").output(0)
    model = Model([t], [x, r])
    compiled = check(model, [_x(0, (2, 3, 4, 5)), _x(1, (2, 3, 4, 5))], rtol=2e-5, atol=1e-6)
    kernels = [row for row in compiled.executable.describe() if row["operation"] == "kernel"]
    assert len(kernels) == 1 and kernels[0]["exec_type"] == "cuda_fused_elementwise"
    assert kernels[0]["fused_nodes"] == ["scale", "shift", "residual", "half", "act"]


def test_chain_source_indexes_broadcast_operands_by_literal_strides():
    x = parameter("x", ElementType.f32, (2, 3, 4))
    y = make("Add", x.output(0), constant(np.ones((3, 1), np.float32)), name="y").output(0)
    compiled = compile_gpu(Model([y], [x]))
    program = next(iter(compiled.executable._programs.values()))
    kernel = next(op.kernel for op in program.operations if op.kind == "kernel")
    source = kernel.main.source()
    assert "x0[e]" in source and "((e // 4) % 3)" in source and "range(start, 24, step)" in source
