"""Kiln's IR: a Model is a DAG of Nodes with typed, shaped ports (OpenVINO opset semantics)."""

from kiln.ir.evaluate import evaluate
from kiln.ir.graph import Model, Node, Output, constant, make, output_name, parameter
from kiln.ir.op import OPS, REQUIRED, Attr, AttrKind, Op, lookup
from kiln.ir.types import Dim, ElementType, Shape, broadcast_shapes, format_shape, is_static
from kiln.ir.validate import GraphValidationError, validate

__all__ = [
    "OPS", "REQUIRED", "Attr", "AttrKind", "Dim", "ElementType", "GraphValidationError", "Model",
    "Node", "Op", "Output", "Shape", "broadcast_shapes", "constant", "evaluate", "format_shape",
    "is_static", "lookup", "make", "output_name", "parameter", "validate",
]
