"""FakeQuantize on the GPU against the numpy reference, and a quantized model run whole on the device."""

from __future__ import annotations

import numpy as np
import pytest
from gpu_models import check, tiny_cnn
from kiln import quantize
from kiln.ir import ElementType, Model, constant, make, parameter


@pytest.mark.parametrize("levels, per_channel", [(256, False), (255, True), (16, True)])
def test_fake_quantize_matches_reference(levels, per_channel):
    x = parameter("x", ElementType.f32, (2, 3, 4))
    shape = (1, 3, 1) if per_channel else ()
    low = np.array([-1.0, -0.5, -2.0], np.float32).reshape(shape) if per_channel else np.float32(-1.5)
    high = np.array([1.0, 0.75, 2.0], np.float32).reshape(shape) if per_channel else np.float32(1.5)
    y = make("Relu", x.output(0), name="relu").output(0)  # a device producer
    y = make("FakeQuantize", y, constant(np.asarray(low)), constant(np.asarray(high)),
             constant(np.asarray(low)), constant(np.asarray(high)), levels=levels, name="fq").output(0)
    values = np.random.default_rng(0).uniform(-3, 3, (2, 3, 4)).astype(np.float32)
    values[0, 0, :2] = [1.5, 0.0]  # on the grid and at the clamp edge
    compiled = check(Model([y], [x]), [values], rtol=0, atol=1e-6)
    assert "cuda_fakequantize" in [r["exec_type"] for r in compiled.executable.describe()]


def test_fake_quantize_rounds_half_to_even():
    x = parameter("x", ElementType.f32, (6,))
    y = make("FakeQuantize", x.output(0), *(constant(np.float32(v)) for v in (0, 5, 0, 5)), levels=6,
             name="fq").output(0)  # a unit grid: x itself is the scaled value
    compiled = check(Model([y], [x]), [np.array([0.5, 1.5, 2.5, 3.5, 4.5, 2.25], np.float32)], rtol=0, atol=0)
    np.testing.assert_array_equal(compiled([np.array([0.5, 1.5, 2.5, 3.5, 4.5, 2.25], np.float32)])[0],
                                  [0, 2, 2, 4, 4, 2])


def test_quantized_model_runs_whole_on_the_device():
    model = tiny_cnn()
    rng = np.random.default_rng(0)
    data = [{"input": rng.standard_normal((1, 2, 6, 6)).astype(np.float32)} for _ in range(4)]
    q = quantize(model, data, progress=False)
    compiled = check(q, [data[0]["input"]], rtol=1e-4, atol=1e-4)
    ops = [r["operation"] for r in compiled.executable.describe()]
    assert "host" not in ops and ops.count("upload") == 1
