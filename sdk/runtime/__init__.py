"""The runtime API: Core, CompiledModel, InferRequest, AsyncInferQueue (OpenVINO's shape)."""

from kiln.runtime.compiled_model import CompiledModel, InferResult
from kiln.runtime.core import Core
from kiln.runtime.infer_request import AsyncInferQueue, InferRequest

__all__ = ["AsyncInferQueue", "CompiledModel", "Core", "InferRequest", "InferResult"]
