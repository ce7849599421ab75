"""Fixed-point requantization parameters, rounded exactly as the VPU's VREQ does."""

from __future__ import annotations

import math

MULTIPLIER_BITS = 31
"""Multipliers are positive int32: m < 2**31."""


def quantize_multiplier(real: float) -> tuple[int, int]:
    """Return (m, s) with ``m / 2**s`` closest to ``real`` (0 < real < 2**31), m < 2**31, s <= 63.

    The mantissa keeps 31 significant bits where the shift allows it.
    """
    if not 0 < real < 2**30 or not math.isfinite(real):
        raise ValueError(f"requantization multiplier must be in (0, 2**30), got {real}")
    exponent = math.frexp(real)[1]  # real = f * 2**exponent, 0.5 <= f < 1
    shift = min(63, MULTIPLIER_BITS - exponent)
    shift = max(shift, 0)
    m = round(real * (1 << shift))
    if m >= 1 << MULTIPLIER_BITS:  # rounding carried into a new bit
        m >>= 1
        shift -= 1
    if m <= 0:
        raise ValueError(f"requantization multiplier {real:g} is too small for a 63-bit shift")
    return int(m), int(shift)
