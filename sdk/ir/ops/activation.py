"""Unary activation functions."""

from __future__ import annotations

import numpy as np
from kiln.ir.op import Op


class UnaryElementwise(Op):
    """Base of one-input elementwise ops keeping type and shape; subclasses define ``compute``."""

    num_inputs = (1, 1)

    @classmethod
    def infer(cls, node):
        port = node.inputs[0]
        return [(port.element_type, port.shape)]

    @classmethod
    def evaluate(cls, node, inputs):
        x = inputs[0]
        return [np.asarray(cls.compute(node, x)).astype(x.dtype, copy=False)]

    @staticmethod
    def compute(node, x):
        raise NotImplementedError


class Relu(UnaryElementwise):
    type_name = "Relu"

    @staticmethod
    def compute(node, x):
        return np.maximum(x, np.zeros((), x.dtype))
