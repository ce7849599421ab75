"""The tiled shared-memory GEMM and MatMul on the GPU against numpy: layouts, tiles, fused epilogues."""

from __future__ import annotations

import numpy as np
import pytest
from gpu_models import check, compile_gpu
from kiln.drivers.fusion import Chain, ChainOp
from kiln.drivers.gpu.device import cuda
from kiln.drivers.gpu.gemm import Gemm, GemmLayout
from kiln.errors import CompileError
from kiln.ir import ElementType, Model, constant, make, parameter


def _rand(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("tile, micro", [(4, 1), (4, 2), (3, 3), (16, 2)])
def test_gemm_with_ragged_edges_matches_numpy(tile, micro):
    m, n, k = 11, 9, 7  # no size a multiple of a tile: every edge guard is exercised
    a, b = _rand((m, k), 0), _rand((k, n), 1)
    gemm = Gemm(GemmLayout(m, n, k, 1, 0, k, 1, 0, n, 1, m * n), tile=tile, micro=micro)
    c = cuda().device_array(m * n, np.float32)
    gemm.run(cuda().to_device(a.reshape(-1)), cuda().to_device(b.reshape(-1)), c)
    np.testing.assert_allclose(c.copy_to_host().reshape(m, n), a @ b, rtol=1e-5, atol=1e-5)


def test_gemm_batched_strided_operands_with_epilogue_and_offsets():
    batch, m, n, k = 2, 3, 5, 6
    a_t = _rand((batch, k, m), 0)          # A stored transposed: A[z, i, k] = a_t[z, k, i]
    b = _rand((k, n), 1)                   # one B for the whole batch (batch stride 0)
    bias, residual = _rand((n,), 2), _rand((batch, m, n), 3)
    out = parameter("out", ElementType.f32, (batch, m, n)).output(0)
    res = parameter("res", ElementType.f32, (batch, m, n)).output(0)
    chain = Chain([out, bias, res], [ChainOp("add", (0, 1)), ChainOp("add", (-1, 2)),
                                     ChainOp("relu", (-2,))], (batch, m, n))
    layout = GemmLayout(m, n, k, batch, k * m, 1, m, 0, n, 1, m * n)
    gemm = Gemm(layout, chain, tile=4)
    offset = 3  # C written at an element offset inside a larger buffer
    c = cuda().to_device(np.full(offset + batch * m * n, -7, np.float32))
    gemm.run(cuda().to_device(a_t.reshape(-1)), cuda().to_device(b.reshape(-1)), c[offset:], 0, 0, 0,
             [cuda().to_device(residual.reshape(-1))])
    got = c.copy_to_host()
    want = np.maximum(np.swapaxes(a_t, 1, 2) @ b + bias + residual, 0)
    np.testing.assert_allclose(got[offset:].reshape(batch, m, n), want, rtol=1e-5, atol=1e-5)
    assert np.all(got[:offset] == -7)  # guard elements before C untouched
    assert gemm.port_operands() == [res]


def test_gemm_rejects_bad_tile_and_empty_sizes():
    with pytest.raises(CompileError, match="tile 33"):
        Gemm(GemmLayout(2, 2, 2, 1, 0, 2, 1, 0, 2, 1, 4), tile=33)
    with pytest.raises(CompileError, match="micro-tile 9"):
        Gemm(GemmLayout(2, 2, 2, 1, 0, 2, 1, 0, 2, 1, 4), micro=9)
    with pytest.raises(CompileError, match="empty sizes"):
        GemmLayout(0, 2, 2, 1, 0, 2, 1, 0, 2, 1, 4)


@pytest.mark.parametrize("a_shape, b_shape, ta, tb, b_const", [
    ((5, 6), (6, 3), False, False, True),
    ((2, 3, 5, 6), (6, 4), False, False, True),      # leading dims folded into M
    ((2, 5, 6), (4, 6), False, True, True),           # constant B pre-transposed
    ((2, 6, 5), (2, 6, 4), True, False, False),       # transposed A, batched runtime B
    ((2, 5, 6), (2, 4, 6), False, True, False),       # attention scores: q @ k^T
    ((5, 6), (3, 6, 4), False, False, False),         # A broadcast over B's batch
])
def test_matmul_node_matches_reference(a_shape, b_shape, ta, tb, b_const):
    a = parameter("a", ElementType.f32, a_shape)
    params, feeds = [a], [_rand(a_shape, 0)]
    if b_const:
        b_port = constant(_rand(b_shape, 1))
    else:
        b = parameter("b", ElementType.f32, b_shape)
        params.append(b)
        feeds.append(_rand(b_shape, 1))
        b_port = b.output(0)
    y = make("MatMul", a.output(0), b_port, transpose_a=ta, transpose_b=tb, name="mm").output(0)
    compiled = check(Model([y], params), feeds, rtol=1e-5, atol=1e-5)
    assert [r["exec_type"] for r in compiled.executable.describe() if r["operation"] == "kernel"] \
        == ["cuda_gemm"]


def test_matmul_epilogue_fuses_bias_activation_and_residual():
    x = parameter("x", ElementType.f32, (1, 5, 6))
    t = make("MatMul", x.output(0), constant(_rand((6, 6), 1)), name="fc").output(0)
    t = make("Add", t, constant(_rand((6,), 2)), name="fc/bias").output(0)
    t = make("Gelu", t, name="fc/gelu").output(0)
    t = make("Add", t, x.output(0), name="residual").output(0)
    compiled = check(Model([t], [x]), [_rand((1, 5, 6), 0)], rtol=1e-5, atol=1e-5)
    kernels = [r for r in compiled.executable.describe() if r["operation"] == "kernel"]
    assert len(kernels) == 1 and kernels[0]["fused_nodes"] == ["fc", "fc/bias", "fc/gelu", "residual"]


def test_matmul_with_partial_batch_broadcast_runs_on_host():
    a, b = parameter("a", ElementType.f32, (2, 1, 3, 4)), parameter("b", ElementType.f32, (1, 2, 4, 3))
    y = make("MatMul", a.output(0), b.output(0), name="mm").output(0)
    compiled = check(Model([y], [a, b]), [_rand((2, 1, 3, 4), 0), _rand((1, 2, 4, 3), 1)])
    assert [r["operation"] for r in compiled.executable.describe()] == ["host"]
    assert compile_gpu(Model([y], [a, b])).executable is not None
