"""The digits CNN (8x8 sklearn digits) trained by Kiln's quantization work; shipped as ONNX."""

from __future__ import annotations

from importlib import resources

import onnx


def digits_cnn() -> onnx.ModelProto:
    """Return the trained digits CNN (input [N, 1, 8, 8] f32 scaled by 1/16, 10 logits)."""
    data = resources.files("kiln.zoo").joinpath("data", "digits_cnn.onnx").read_bytes()
    return onnx.load_from_string(data)
