"""The ONNX frontend: ONNX opsets 7+ decomposed into Kiln IR (OpenVINO opset) ops."""

from kiln.frontends.onnx.converter import convert_onnx

__all__ = ["convert_onnx"]
