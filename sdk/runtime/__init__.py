"""The runtime API: Core, CompiledModel, InferRequest (OpenVINO's shape)."""

from kiln.runtime.compiled_model import CompiledModel, InferResult
from kiln.runtime.core import Core
from kiln.runtime.infer_request import InferRequest

__all__ = ["CompiledModel", "Core", "InferRequest", "InferResult"]
