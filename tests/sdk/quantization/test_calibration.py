"""Range estimators and statistics collection."""

from __future__ import annotations

import numpy as np
import pytest
from kiln.quantization import QuantizationError
from kiln.quantization.calibration import TensorStatistics, estimate_range, kl_threshold


def _stats(values, keep=True):
    stats = TensorStatistics(keep_samples=keep)
    for v in values:
        stats.update(v)
    return stats


def test_minmax_is_largest_magnitude_over_samples():
    stats = _stats([np.array([-1.0, 0.5]), np.array([[0.2, 3.0]]), np.array([np.nan, -2.5])], keep=False)
    assert stats.minimum == -2.5 and stats.maximum == 3.0 and stats.count == 3
    assert estimate_range(stats, "minmax") == 3.0


def test_percentile_clips_rare_outliers():
    rng = np.random.default_rng(0)
    values = rng.standard_normal(100_000).astype(np.float32)
    values[0] = 50.0
    stats = _stats([values])
    clipped = estimate_range(stats, "percentile", 99.9)
    assert 3.0 < clipped < 3.6  # |N(0,1)| 99.9th percentile is 3.29
    assert estimate_range(stats, "percentile", 100.0) == pytest.approx(50.0)


def test_entropy_threshold_on_gaussian_and_relu_data():
    rng = np.random.default_rng(0)
    gauss = rng.standard_normal(200_000).astype(np.float32)
    gauss[:3] = [20.0, -20.0, 15.0]
    threshold = estimate_range(_stats([gauss]), "entropy")
    assert 2.5 < threshold < 10.0
    relu = np.maximum(gauss, 0)  # half exact zeros must not drag the threshold down
    assert estimate_range(_stats([relu]), "entropy") > 2.5
    assert kl_threshold(np.zeros(10, np.float32), 1.0) == 1.0


def test_degenerate_and_bad_inputs():
    assert estimate_range(_stats([np.zeros(8)]), "minmax") == 1.0
    assert estimate_range(TensorStatistics(True), "entropy") == 1.0
    with pytest.raises(QuantizationError, match="unknown calibration method"):
        estimate_range(_stats([np.ones(3)]), "mse")


def test_samples_kept_per_tensor_are_bounded():
    stats = TensorStatistics(True, per_sample=1000)
    for _ in range(5):
        stats.update(np.random.default_rng(1).standard_normal(10_000))
    assert stats.magnitudes().size == 5000
