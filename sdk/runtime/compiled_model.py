"""CompiledModel: a model compiled for a device; callable, and a factory of infer requests."""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from kiln.drivers.plugin import Executable
from kiln.ir import Model, Output
from kiln.ir.evaluate import bind_inputs

OPTIMIZED = "KILN_MODEL_OPTIMIZED"
"""Compile property set on models restored from an export: the optimizer passes already ran."""


def number_of_streams(properties: Mapping[str, Any]) -> int:
    """Return how many inferences may run at once: NUM_STREAMS, else one per core for THROUGHPUT."""
    streams = properties.get("NUM_STREAMS")
    if streams not in (None, "", "AUTO", 0):
        return max(int(streams), 1)
    if str(properties.get("PERFORMANCE_HINT", "LATENCY")).upper() in ("THROUGHPUT", "CUMULATIVE_THROUGHPUT"):
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return 1


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

    def to_dict(self) -> dict[str, np.ndarray]:
        return dict(zip(self._names, self._values))

    def __repr__(self):
        shapes = ", ".join(f"{n}: {v.dtype}{list(v.shape)}" for n, v in zip(self._names, self._values))
        return f"<InferResult {shapes}>"


class CompiledModel:
    """A model compiled for ``device``. Call it with inputs; or make infer requests.

    Calls from several threads at once are safe: each runs in its own buffers.
    """

    def __init__(self, model: Model, executable: Executable, device: str, properties: Mapping[str, Any]):
        self.model = model
        self.executable = executable
        self.device = device
        self.properties = {k: v for k, v in properties.items() if k != OPTIMIZED}
        self.streams = number_of_streams(self.properties)
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

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

    def executor(self) -> ThreadPoolExecutor:
        """Return the worker threads async requests run on: one per stream."""
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=max(self.streams, 1),
                                                thread_name_prefix=f"kiln-{self.device}")
            return self._pool

    def get_property(self, name: str) -> Any:
        """Return a property: those it was compiled with, plus OPTIMAL_NUMBER_OF_INFER_REQUESTS."""
        if name == "OPTIMAL_NUMBER_OF_INFER_REQUESTS":
            return max(self.streams, 1)
        if name in self.properties:
            return self.properties[name]
        from kiln.errors import DeviceError

        raise DeviceError(f"compiled model on {self.device} has no property {name!r}; "
                          f"it has {sorted(self.properties) + ['OPTIMAL_NUMBER_OF_INFER_REQUESTS']}")

    def export_model(self, stream: io.IOBase | None = None) -> bytes | None:
        """Return the compiled model as bytes, or write them to a binary ``stream``.

        ``kiln.Core().import_model(blob)`` turns them back into a CompiledModel
        without the original model file. An executable that sets
        ``exports_optimized_model`` has its already-optimized ``model`` stored (import
        then skips the passes); otherwise the model as given to compile_model is.
        """
        from kiln.runtime import model_blob

        optimized = getattr(self.executable, "model", None)
        if getattr(self.executable, "exports_optimized_model", False) and isinstance(optimized, Model):
            blob = model_blob.pack(optimized, self.device, self.properties, optimized=True)
        else:
            blob = model_blob.pack(self.model, self.device, self.properties, optimized=False)
        if stream is None:
            return blob
        stream.write(blob)
        return None

    export = export_model

    def __repr__(self):
        return f"<CompiledModel {self.model.name} on {self.device}>"
