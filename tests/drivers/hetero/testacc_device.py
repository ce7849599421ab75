"""A test-only accelerator ("TESTACC") that takes some ops, to exercise HETERO without the VPU."""

from __future__ import annotations

import numpy as np
from kiln.drivers.plugin import PLUGINS, Executable, Plugin
from kiln.errors import CompileError
from kiln.ir import Model, evaluate

TAKES = {"Convolution", "GroupConvolution", "MatMul", "FakeQuantize", "Relu", "Add", "Convert", "Multiply"}


class TestAccExecutable(Executable):
    def __init__(self, model: Model, output_dtype):
        self.model = model
        self.output_dtype = output_dtype

    def infer(self, inputs):
        return [np.asarray(v, self.output_dtype) for v in evaluate(self.model, inputs)]


class TestAccPlugin(Plugin):
    """Takes TAKES (f32 only); runs the reference; returns ``output_dtype`` arrays (f64 by default,
    so HETERO's boundary conversion is exercised). Records every model it compiled."""

    device_name = "TESTACC"
    priority = 50
    compiled: list[Model] = []

    def query_model(self, model, properties):
        return {n.name: self.device_name for n in model.ordered_nodes()
                if n.type_name in TAKES and all(o.element_type.value == "f32" for o in n.outputs)
                and n.name not in properties.get("TESTACC_REFUSE", ())}

    def placement_reasons(self, model, properties):
        taken = self.query_model(model, properties)
        reasons = {}
        for n in model.ordered_nodes():
            if n.name in taken:
                continue
            if n.name in properties.get("TESTACC_REFUSE", ()):
                reasons[n.name] = "too large for the scratchpad (test)"
            elif n.type_name not in TAKES:
                reasons[n.name] = f"unsupported op {n.type_name}"
            else:
                reasons[n.name] = "unsupported element type"
        return reasons

    def compile_model(self, model, properties):
        if properties.get("TESTACC_FAIL_COMPILE"):
            raise CompileError("layer too large for any tiling (test)")
        for node in model.ordered_nodes():
            assert node.type_name in TAKES | {"Parameter", "Result", "Constant"}, node
        TestAccPlugin.compiled.append(model)
        return TestAccExecutable(model, properties.get("TESTACC_DTYPE", np.float64))


PLUGINS.pop(TestAccPlugin.device_name)  # registered only while a test runs (see conftest.py)
