"""Steps bound to an arena (addresses resolved once) stay correct as inputs change between inferences."""

from __future__ import annotations

import numpy as np
from kiln.drivers.cpu.executable import CpuExecutable
from kiln.ir import ElementType, Model, constant, evaluate, make, parameter

F32 = ElementType.f32


def _model(rng) -> Model:
    x = parameter("x", F32, (1, 8, 6, 6))
    w = constant(rng.standard_normal((16, 8, 1, 1)).astype(np.float32))
    conv = make("Convolution", x.output(0), w, strides=[1, 1], pads_begin=[0, 0], pads_end=[0, 0],
                dilations=[1, 1])
    shift = constant(rng.standard_normal((1, 16, 1, 1)).astype(np.float32))
    bias = make("Add", conv.output(0), shift)
    relu = make("Relu", bias.output(0))
    w3 = constant(rng.standard_normal((16, 16, 3, 3)).astype(np.float32))
    conv3 = make("Convolution", relu.output(0), w3, strides=[1, 1], pads_begin=[1, 1],
                 pads_end=[1, 1], dilations=[1, 1])
    residual = make("Add", conv3.output(0), relu.output(0))
    pool = make("MaxPool", residual.output(0), strides=[2, 2], pads_begin=[0, 0], pads_end=[0, 0],
                kernel=[2, 2], rounding_type="floor")
    target = constant(np.array([1, 16, 9], np.int64))
    flat = make("Reshape", pool.output(0), target, special_zero=False)
    weights = constant(rng.standard_normal((9, 5)).astype(np.float32))
    project = make("MatMul", flat.output(0), weights, transpose_a=False, transpose_b=False)
    soft = make("Softmax", project.output(0), axis=2)
    return Model([soft.output(0)], [x])


def test_bound_steps_follow_new_and_mutated_inputs():
    rng = np.random.default_rng(0)
    model = _model(rng)
    executable = CpuExecutable(model, threads=2)
    first = rng.standard_normal((1, 8, 6, 6)).astype(np.float32)
    inputs = [first, rng.standard_normal((1, 8, 6, 6)).astype(np.float32), first]
    results = []
    for i, value in enumerate(inputs):
        if i == 2:
            value *= -0.5  # the same array object, new contents: bound steps read it again
        got = executable.infer([value])[0]
        np.testing.assert_allclose(got, evaluate(model, [value])[0], rtol=1e-5, atol=1e-6)
        results.append(got)
    assert not np.allclose(results[0], results[1])
    arena = next(iter(executable._arenas.values()))[0]
    bound = [entry[1] for entry in arena.bound if entry is not None and entry[1] is not None]
    assert len(bound) >= 4, "the conv, pool, reshape, MatMul and softmax steps bind to the arena"


def test_non_contiguous_input_is_never_bound_to_a_stale_copy():
    rng = np.random.default_rng(1)
    model = _model(rng)
    executable = CpuExecutable(model, threads=2)
    base = rng.standard_normal((1, 8, 6, 12)).astype(np.float32)
    for scale in (1.0, -2.0, 3.0):
        base *= scale
        value = base[..., ::2]  # strided view: the kernels need a contiguous copy every time
        want = evaluate(model, [np.ascontiguousarray(value)])[0]
        np.testing.assert_allclose(executable.infer([value])[0], want, rtol=1e-5, atol=1e-6)


def test_reads_of_strided_views_never_bind_to_a_temporary_copy():
    """A reshape or batch fold that has to copy returns a view of a temporary: never bound."""
    rng = np.random.default_rng(2)
    q = parameter("q", F32, (2, 4, 7, 8))
    k = parameter("k", F32, (2, 7, 4, 8))
    k_t = make("Transpose", k.output(0), constant(np.array([0, 2, 3, 1], np.int64)))  # a strided view
    scores = make("MatMul", q.output(0), k_t.output(0), transpose_a=False, transpose_b=False)
    flat = make("Reshape", k_t.output(0), constant(np.array([2, 224], np.int64)), special_zero=False)
    project = make("MatMul", flat.output(0), constant(rng.standard_normal((224, 3)).astype(np.float32)),
                   transpose_a=False, transpose_b=False)
    model = Model([scores.output(0), project.output(0)], [q, k])
    executable = CpuExecutable(model, threads=2)
    for _ in range(3):
        values = [rng.standard_normal((2, 4, 7, 8)).astype(np.float32),
                  rng.standard_normal((2, 7, 4, 8)).astype(np.float32)]
        for got, want in zip(executable.infer(values), evaluate(model, values)):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
