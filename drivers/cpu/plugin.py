"""The CPU plugin: runs every op Kiln's IR has."""

from __future__ import annotations

from kiln.drivers.plugin import Executable, Plugin
from kiln.ir import Model, evaluate


class ReferenceExecutable(Executable):
    """Runs the optimized graph op by op with each op's numpy reference."""

    def __init__(self, model: Model):
        self.model = model

    def infer(self, inputs):
        return evaluate(self.model, inputs)


class CpuPlugin(Plugin):
    device_name = "CPU"
    priority = 10

    def query_model(self, model, properties):
        return {node.name: self.device_name for node in model.ordered_nodes()}

    def compile_model(self, model, properties):
        from kiln.passes import optimize

        return ReferenceExecutable(optimize(model))
