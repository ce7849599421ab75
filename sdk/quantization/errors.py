"""The error the quantizer raises for a model or calibration set it cannot use."""

from kiln.errors import KilnError


class QuantizationError(KilnError):
    """A model with nothing to quantize, or calibration data that cannot calibrate it."""
