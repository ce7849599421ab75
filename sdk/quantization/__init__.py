"""Post-training int8 quantization: calibration, FakeQuantize IR, per-layer SQNR report.

``quantize(model, calibration_data, **options)`` returns the quantized Model (see
docs/quantization.md for the exact IR); ``report(float_model, quantized, data)`` returns
a per-layer SQNR table.
"""

from kiln.quantization.calibration import METHODS
from kiln.quantization.errors import QuantizationError
from kiln.quantization.layers import ANCHOR_TYPES, IgnoredScope
from kiln.quantization.quantize import fake_quantize, quantize, quantize_weight
from kiln.quantization.report import LayerError, QuantizationReport, report

__all__ = [
    "ANCHOR_TYPES", "METHODS", "IgnoredScope", "LayerError", "QuantizationError", "QuantizationReport",
    "fake_quantize", "quantize", "quantize_weight", "report",
]
