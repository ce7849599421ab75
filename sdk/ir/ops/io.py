"""Parameter, Constant and Result: a model's inputs, weights and outputs."""

from __future__ import annotations

import numpy as np
from kiln.errors import InferenceInputError
from kiln.ir.op import Attr, AttrKind, Op
from kiln.ir.types import ElementType


class Parameter(Op):
    """A model input of a given element type and (possibly dynamic) shape."""

    type_name = "Parameter"
    attributes = {"element_type": Attr(AttrKind.ETYPE), "shape": Attr(AttrKind.SHAPE)}
    num_inputs = (0, 0)

    @classmethod
    def infer(cls, node):
        return [(node.attrs["element_type"], node.attrs["shape"])]

    @classmethod
    def evaluate(cls, node, inputs):
        raise InferenceInputError(f"input {node.name!r} was not given a value")


class Constant(Op):
    """A constant tensor; its data is ``attrs["value"]`` (a numpy array)."""

    type_name = "Constant"
    attributes = {}
    num_inputs = (0, 0)

    @classmethod
    def infer(cls, node):
        value = np.asarray(node.attrs["value"])
        return [(ElementType.from_numpy(value.dtype), tuple(value.shape))]

    @classmethod
    def evaluate(cls, node, inputs):
        return [node.attrs["value"]]


class Result(Op):
    """A model output: passes its one input through."""

    type_name = "Result"
    num_inputs = (1, 1)

    @classmethod
    def infer(cls, node):
        port = node.inputs[0]
        return [(port.element_type, port.shape)]

    @classmethod
    def evaluate(cls, node, inputs):
        return [inputs[0]]
