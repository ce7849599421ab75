"""CompiledModel: a model compiled for a device; callable, and a factory of infer requests."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
from kiln.drivers.plugin import Executable
from kiln.ir import Model, Output
from kiln.ir.evaluate import bind_inputs


class InferResult(Mapping):
    """Outputs of one inference: index by output name, by position, or by output port."""

    def __init__(self, names: list[str], values: list[np.ndarray], ports: list[Output] | None = None):
        self._names = names
        self._values = values
        self._ports = ports or []

    def __getitem__(self, key):
        if isinstance(key, int):
            return self._values[key]
        if isinstance(key, Output):
            for port, value in zip(self._ports, self._values):
                if port == key:
                    return value
            raise KeyError(key)
        for name, value in zip(self._names, self._values):
            if name == key:
                return value
        for port, value in zip(self._ports, self._values):
            if key in port.names:
                return value
        raise KeyError(f"no output {key!r}; outputs are {self._names}")

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._values)

    def to_list(self) -> list[np.ndarray]:
        return list(self._values)

    def __repr__(self):
        shapes = ", ".join(f"{n}: {v.dtype}{list(v.shape)}" for n, v in zip(self._names, self._values))
        return f"<InferResult {shapes}>"


class CompiledModel:
    """A model compiled for ``device``. Call it with inputs; or make infer requests."""

    def __init__(self, model: Model, executable: Executable, device: str, properties: Mapping[str, Any]):
        self.model = model
        self.executable = executable
        self.device = device
        self.properties = dict(properties)

    @property
    def inputs(self) -> list[Output]:
        return self.model.inputs

    @property
    def outputs(self) -> list[Output]:
        return self.model.outputs

    def input(self, key: str | int = 0) -> Output:
        return self.model.input(key)

    def output(self, key: str | int = 0) -> Output:
        if isinstance(key, int):
            return self.model.outputs[key]
        return self.model.outputs[self.model.output_names.index(key)]

    def infer(self, inputs) -> InferResult:
        """Run one synchronous inference; ``inputs`` is a dict by name/position, a list, or an array."""
        feeds = bind_inputs(self.model, inputs)
        values = self.executable.infer([feeds[p.name] for p in self.model.parameters])
        return InferResult(self.model.output_names, values, self.model.outputs)

    __call__ = infer

    def create_infer_request(self):
        from kiln.runtime.infer_request import InferRequest

        return InferRequest(self)

    def get_property(self, name: str) -> Any:
        return self.properties[name]

    def __repr__(self):
        return f"<CompiledModel {self.model.name} on {self.device}>"
