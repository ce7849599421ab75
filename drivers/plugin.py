"""The device-plugin contract and the registry the runtime finds plugins through.

A plugin is one subclass of :class:`Plugin` in ``kiln.drivers.<device>.plugin``;
subclassing registers it under ``device_name``.
"""

from __future__ import annotations

import abc
import importlib
import pkgutil
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from kiln.errors import DeviceError
from kiln.ir import Model

PLUGINS: dict[str, type[Plugin]] = {}


class Executable(abc.ABC):
    """A model compiled for one device: runs inference on already-checked inputs."""

    @abc.abstractmethod
    def infer(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """Return the model's outputs for ``inputs`` (one array per model input, in order).

        Must be safe to call from several threads at once.
        """

    def profiling_info(self) -> list[dict[str, Any]]:
        """Return per-node counters of the last inference (name, type, time, device...)."""
        return []


class Plugin(abc.ABC):
    """A device: says what it can run, compiles models into Executables."""

    device_name: ClassVar[str] = ""
    priority: ClassVar[int] = 0
    """AUTO prefers devices of higher priority among those available."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.device_name:
            PLUGINS[cls.device_name] = cls

    def available(self) -> bool:
        """Return True when the device can run models on this machine."""
        return True

    def unavailable_reason(self) -> str:
        return f"device {self.device_name} is not available on this machine"

    def supported_properties(self) -> dict[str, Any]:
        """Return the properties this device understands, with their defaults."""
        return {}

    @abc.abstractmethod
    def query_model(self, model: Model, properties: Mapping[str, Any]) -> dict[str, str]:
        """Return ``{node_name: device_name}`` for every node of ``model`` this device runs."""

    def placement_reasons(self, model: Model, properties: Mapping[str, Any]) -> dict[str, str]:
        """Return ``{node_name: reason}`` for each node this device does not run."""
        taken = self.query_model(model, properties)
        return {n.name: f"{self.device_name} does not run {n.type_name}"
                for n in model.ordered_nodes() if n.name not in taken}

    @abc.abstractmethod
    def compile_model(self, model: Model, properties: Mapping[str, Any]) -> Executable:
        """Compile ``model`` (already copied; the plugin may change it) for this device."""


def load_plugins() -> dict[str, type[Plugin]]:
    """Import every ``kiln.drivers.<device>.plugin`` module and return the registry."""
    import kiln.drivers as package

    for info in pkgutil.iter_modules(package.__path__):
        if info.ispkg:
            try:
                importlib.import_module(f"{package.__name__}.{info.name}.plugin")
            except ModuleNotFoundError as error:
                if error.name != f"{package.__name__}.{info.name}.plugin":
                    raise
    return PLUGINS


def get_plugin(device: str) -> type[Plugin]:
    """Return the plugin class for a device name, or raise DeviceError listing the known ones."""
    plugins = load_plugins()
    try:
        return plugins[device]
    except KeyError:
        raise DeviceError(f"unknown device {device!r}; known devices: {sorted(plugins)}") from None
