"""A small builder of ONNX graphs with seeded random weights, used by every zoo family."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


class OnnxGraph:
    """Accumulates nodes and initializers; ``model()`` returns a checked ModelProto.

    Weights come from one seeded generator, so a zoo model is the same on every machine.
    """

    def __init__(self, name: str, seed: int):
        self.name = name
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []
        self._count = 0

    def fresh(self, stem: str) -> str:
        self._count += 1
        return f"{stem}_{self._count}"

    def input(self, name: str, shape, dtype=TensorProto.FLOAT) -> str:
        self.inputs.append(helper.make_tensor_value_info(name, dtype, list(shape)))
        return name

    def output(self, name: str, shape=None, dtype=TensorProto.FLOAT) -> None:
        dims = None if shape is None else list(shape)
        self.outputs.append(helper.make_tensor_value_info(name, dtype, dims))

    def const(self, value, stem: str = "const") -> str:
        name = self.fresh(stem)
        self.initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], stem: str | None = None, outputs: int = 1, **attrs):
        """Add a node; return its output name (or list of names when ``outputs > 1``)."""
        base = self.fresh(stem or op_type.lower())
        names = [base] if outputs == 1 else [f"{base}:{i}" for i in range(outputs)]
        self.nodes.append(helper.make_node(op_type, inputs, names, name=base, **attrs))
        return names[0] if outputs == 1 else names

    # layers with seeded weights
    def conv(self, x: str, c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1,
             bias: bool = True, stem: str = "conv") -> str:
        """Add a Conv with He-normal weights (``same`` padding for odd kernels)."""
        fan_in = c_in // groups * kernel * kernel
        w = self.rng.standard_normal((c_out, c_in // groups, kernel, kernel)) * np.sqrt(2.0 / fan_in)
        ins = [x, self.const(w.astype(np.float32), f"{stem}_w")]
        if bias:
            ins.append(self.const((self.rng.standard_normal(c_out) * 0.01).astype(np.float32), f"{stem}_b"))
        pad = kernel // 2
        return self.op("Conv", ins, stem, kernel_shape=[kernel, kernel], strides=[stride, stride],
                       pads=[pad] * 4, group=groups)

    def batch_norm(self, x: str, channels: int, stem: str = "bn") -> str:
        """Add a BatchNormalization with statistics near identity."""
        r = self.rng
        params = [1.0 + 0.1 * r.standard_normal(channels), 0.1 * r.standard_normal(channels),
                  0.1 * r.standard_normal(channels), 1.0 + 0.1 * np.abs(r.standard_normal(channels))]
        names = [self.const(p.astype(np.float32), f"{stem}_{k}")
                 for p, k in zip(params, ("scale", "bias", "mean", "var"))]
        return self.op("BatchNormalization", [x, *names], stem, epsilon=1e-5)

    def linear(self, x: str, d_in: int, d_out: int, stem: str = "fc") -> str:
        """Add MatMul + Add with Xavier-normal weights ([d_in, d_out] layout)."""
        w = self.rng.standard_normal((d_in, d_out)) * np.sqrt(2.0 / (d_in + d_out))
        y = self.op("MatMul", [x, self.const(w.astype(np.float32), f"{stem}_w")], stem)
        b = (self.rng.standard_normal(d_out) * 0.01).astype(np.float32)
        return self.op("Add", [y, self.const(b, f"{stem}_b")], f"{stem}_bias")

    def model(self) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, self.name, self.inputs, self.outputs, self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="kiln.zoo")
        model.ir_version = 8
        onnx.checker.check_model(model)
        return model
