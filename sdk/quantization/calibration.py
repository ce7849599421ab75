"""Calibration: run the float model on sample inputs and estimate each tensor's int8 range.

Statistics are gathered per tensor (per port) over every calibration sample; a range
estimator then turns them into the magnitude ``a`` that maps to int8 127 (scale = a / 127).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
from kiln.errors import InferenceInputError, KilnError
from kiln.ir import Model, Output, evaluate
from kiln.ir.evaluate import bind_inputs
from kiln.quantization.errors import QuantizationError

METHODS = ("minmax", "percentile", "entropy")
"""Range estimators: largest magnitude seen, a percentile of magnitudes, or minimal KL divergence."""

KEPT_PER_TENSOR = 1 << 20
"""About how many |x| values (4 MiB) the percentile / entropy estimators keep per tensor, spread
evenly over the calibration samples (at least MIN_PER_SAMPLE from each)."""

MIN_PER_SAMPLE = 1 << 10


class TensorStatistics:
    """Running statistics of one tensor: min, max, and a random subset of its magnitudes."""

    def __init__(self, keep_samples: bool, seed: int = 0, per_sample: int = KEPT_PER_TENSOR):
        self.minimum = np.inf
        self.maximum = -np.inf
        self.count = 0
        self.keep_samples = keep_samples
        self.per_sample = per_sample
        self._rng = np.random.default_rng(seed)
        self._magnitudes: list[np.ndarray] = []

    def update(self, value: np.ndarray) -> None:
        """Add one observed value (any shape, float) to the statistics."""
        flat = np.asarray(value, dtype=np.float32).ravel()
        if flat.size == 0:
            return
        finite = flat[np.isfinite(flat)]
        if finite.size == 0:
            return
        self.minimum = min(self.minimum, float(finite.min()))
        self.maximum = max(self.maximum, float(finite.max()))
        self.count += 1
        if self.keep_samples:
            mags = np.abs(finite)
            if mags.size > self.per_sample:
                mags = self._rng.choice(mags, self.per_sample, replace=False)
            self._magnitudes.append(mags)

    @property
    def abs_max(self) -> float:
        """Largest magnitude seen (0.0 before any update)."""
        if self.count == 0:
            return 0.0
        return max(abs(self.minimum), abs(self.maximum))

    def magnitudes(self) -> np.ndarray:
        return np.concatenate(self._magnitudes) if self._magnitudes else np.zeros(1, np.float32)


def estimate_range(stats: TensorStatistics, method: str, percentile: float = 99.99) -> float:
    """Return the magnitude that int8 127 represents for ``stats`` under ``method``.

    ``minmax`` takes the largest magnitude; ``percentile`` the given percentile of
    magnitudes (clipping rare outliers); ``entropy`` the threshold whose 128-level
    quantized histogram has the least KL divergence from the observed one (TensorRT's
    calibration). The result is never above the largest magnitude, and is positive.
    """
    top = stats.abs_max
    if top <= 0.0:
        return 1.0
    if method == "minmax":
        return top
    if method == "percentile":
        value = float(np.percentile(stats.magnitudes(), percentile))
    elif method == "entropy":
        value = kl_threshold(stats.magnitudes(), top)
    else:
        raise QuantizationError(f"unknown calibration method {method!r}; choose one of {METHODS}")
    return min(top, value) if value > 0 else top


def kl_threshold(magnitudes: np.ndarray, top: float, bins: int = 2048, levels: int = 128) -> float:
    """Return the clipping threshold in [0, top] minimising KL(P || Q) of 128-level quantization.

    Exact zeros (half of every ReLU output) are left out: int8 represents them at any scale,
    and their spike in the first bin would otherwise dominate the divergence.
    """
    magnitudes = magnitudes[magnitudes > 0]
    if magnitudes.size == 0:
        return top
    hist, edges = np.histogram(magnitudes, bins=bins, range=(0.0, top))
    hist = hist.astype(np.float64)
    best, best_kl = bins, np.inf
    for stop in range(levels, bins + 1, 8):
        p = hist[:stop].copy()
        p[-1] += hist[stop:].sum()
        # Merge the first `stop` bins into `levels` groups, then spread each group's mass evenly
        # over its non-empty bins: the histogram as int8 quantization at this threshold sees it.
        starts = (np.arange(levels) * stop) // levels
        sizes = np.diff(np.append(starts, stop))
        group_of = np.repeat(np.arange(levels), sizes)
        nonzero = hist[:stop] > 0
        mass = np.add.reduceat(hist[:stop], starts)
        filled = np.add.reduceat(nonzero.astype(np.float64), starts)
        q = np.where(nonzero, (mass / np.maximum(filled, 1))[group_of], 0.0)
        p_sum, q_sum = p.sum(), q.sum()
        if p_sum == 0 or q_sum == 0:
            continue
        p_norm, q_norm = p / p_sum, q / q_sum
        mask = p_norm > 0
        kl = float(np.sum(p_norm[mask] * np.log(p_norm[mask] / np.maximum(q_norm[mask], 1e-12))))
        if kl < best_kl:
            best, best_kl = stop, kl
    return float(edges[min(best, bins)])


def calibration_samples(model: Model, data, subset_size: int | None) -> Iterable[tuple[int, object]]:
    """Yield ``(index, sample)`` from ``data`` (an iterable of input dicts, lists or arrays).

    A single ndarray or dict is rejected: it is one sample, not an iterable of samples.
    """
    if data is None:
        raise QuantizationError(f"model {model.name!r}: calibration_data is required (an iterable of "
                                "input dicts) to calibrate activation ranges")
    if isinstance(data, (np.ndarray, Mapping)):
        raise QuantizationError(
            "calibration_data must be an iterable of samples (e.g. a list of {input_name: array}); "
            f"got one {type(data).__name__}, wrap it in a list")
    if not isinstance(data, Iterable):
        raise QuantizationError(f"calibration_data must be an iterable of samples, not {type(data).__name__}")
    if subset_size is not None and subset_size < 1:
        raise QuantizationError(f"subset_size must be at least 1, got {subset_size}")
    for index, sample in enumerate(data):
        yield index, sample
        if subset_size is not None and index + 1 >= subset_size:
            return


def collect_statistics(model: Model, ports: Sequence[Output], data, method: str,
                       subset_size: int | None = 300, progress: bool = True
                       ) -> dict[Output, TensorStatistics]:
    """Run ``model`` on each calibration sample and return the statistics of ``ports``.

    Raises QuantizationError for empty data and InferenceInputError naming the sample
    index for a sample that does not fit the model's inputs.
    """
    if method not in METHODS:
        raise QuantizationError(f"unknown calibration method {method!r}; choose one of {METHODS}")
    total = None
    if isinstance(data, Sequence):
        total = len(data) if subset_size is None else min(len(data), subset_size)
    expected = total or subset_size or 300
    per_sample = max(MIN_PER_SAMPLE, KEPT_PER_TENSOR // max(1, expected))
    stats = {port: TensorStatistics(method != "minmax", seed=i, per_sample=per_sample)
             for i, port in enumerate(ports)}
    count = 0
    samples = calibration_samples(model, data, subset_size)
    if progress:
        from tqdm import tqdm

        samples = tqdm(samples, total=total, desc=f"calibrate ({method})", unit="sample", leave=False)
    for index, sample in samples:
        try:
            feeds = bind_inputs(model, sample)
        except (KilnError, TypeError, ValueError) as error:
            raise InferenceInputError(f"calibration sample {index}: {error}") from None
        try:
            values = evaluate(model, feeds, outputs=list(ports))
        except KilnError as error:
            raise QuantizationError(f"calibration sample {index}: model {model.name!r} failed: {error}") \
                from error
        for port, value in zip(ports, values):
            stats[port].update(value)
        count += 1
    if count == 0:
        raise QuantizationError(f"model {model.name!r}: calibration_data is empty; give at least one sample")
    return stats
