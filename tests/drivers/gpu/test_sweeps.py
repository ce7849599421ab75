"""Longer checks (marked slow): a GEMM size sweep and larger models at the default tile on the GPU."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from gpu_models import check
from kiln.drivers.gpu.device import cuda
from kiln.drivers.gpu.gemm import Gemm, GemmLayout

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("m, n, k", [(1, 1, 1), (33, 17, 65), (64, 64, 64), (7, 130, 3), (129, 5, 40)])
@pytest.mark.parametrize("micro", [1, 2, 4])
def test_gemm_size_sweep(m, n, k, micro):
    rng = np.random.default_rng(m * n * k)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    gemm = Gemm(GemmLayout(m, n, k, 1, 0, k, 1, 0, n, 1, m * n), tile=8, micro=micro)
    c = cuda().device_array(m * n, np.float32)
    gemm.run(cuda().to_device(a.reshape(-1)), cuda().to_device(b.reshape(-1)), c)
    np.testing.assert_allclose(c.copy_to_host().reshape(m, n), a @ b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", ["residual_cnn", "transformer_layer"])
def test_quantization_suite_models_at_default_tile(name):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "sdk" / "quantization"))
    import quant_models

    model = getattr(quant_models, name)()
    x = np.random.default_rng(0).standard_normal(model.parameters[0].attrs["shape"]).astype(np.float32)
    check(model, [x], rtol=1e-4, atol=1e-5, GPU_TILE=16)
