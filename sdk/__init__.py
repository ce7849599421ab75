"""Kiln: convert, optimize, quantize and deploy models on CPU, GPU and the Kiln VPU.

The public API (see docs/api.md)::

    core = kiln.Core()
    model = core.read_model("m.onnx")            # or kiln.convert_model("m.onnx")
    kiln.save_model(model, "out.xml")            # OpenVINO IR v11: out.xml + out.bin
    q = kiln.quantize(model, calibration_data)   # int8 post-training quantization
    compiled = core.compile_model(q, "HETERO:VPU,CPU")
    out = compiled({"input": x})
"""

from __future__ import annotations

import os

from kiln.errors import (
    CompileError,
    DeviceError,
    InferenceInputError,
    KilnError,
    ModelFormatError,
    ShapeInferenceError,
    UnsupportedOpError,
)
from kiln.ir import ElementType, Model
from kiln.runtime import AsyncInferQueue, CompiledModel, Core, InferRequest, InferResult
from kiln.runtime.core import read_model


def convert_model(model, weights: str | os.PathLike | None = None) -> Model:
    """Return the IR of an ONNX file/ModelProto or an OpenVINO IR .xml file (no Core needed)."""
    if isinstance(model, (str, os.PathLike)):
        return read_model(model, weights)
    from kiln.frontends.onnx import convert_onnx

    return convert_onnx(model)


def save_model(model: Model, path: str | os.PathLike, compress_to_fp16: bool = False) -> None:
    """Write ``model`` as OpenVINO IR v11: ``path`` (.xml topology) and its .bin weights."""
    from kiln.serialize import save_ir

    save_ir(model, path, compress_to_fp16=compress_to_fp16)


def optimize(model: Model) -> Model:
    """Return ``model`` after the default optimizer passes (the input is not changed)."""
    from kiln.passes import optimize as run

    return run(model)


def quantize(model: Model, calibration_data, **options) -> Model:
    """Return an int8-quantized copy of ``model`` calibrated on an iterable of input dicts."""
    from kiln.quantization import quantize as run

    return run(model, calibration_data, **options)


__all__ = [
    "AsyncInferQueue", "CompileError", "CompiledModel", "Core", "DeviceError", "ElementType", "InferRequest",
    "InferResult", "InferenceInputError", "KilnError", "Model", "ModelFormatError",
    "ShapeInferenceError", "UnsupportedOpError", "convert_model", "optimize", "quantize",
    "read_model", "save_model",
]
