"""Core: reads models, lists devices, queries and compiles models for a device."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from kiln.drivers.plugin import Plugin, get_plugin, load_plugins
from kiln.errors import DeviceError, ModelFormatError
from kiln.ir import Model
from kiln.runtime.compiled_model import CompiledModel


def read_model(path: str | os.PathLike, weights: str | os.PathLike | None = None) -> Model:
    """Read an ONNX file or an OpenVINO IR ``.xml`` (its ``.bin`` beside it, or ``weights``)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file")
    if path.lower().endswith(".xml"):
        from kiln.serialize import read_ir

        return read_ir(path, weights)
    with open(path, "rb") as f:
        head = f.read(64)
    if path.lower().endswith(".onnx") or not head.lstrip().startswith(b"<"):
        from kiln.frontends.onnx import convert_onnx

        return convert_onnx(path)
    raise ModelFormatError(f"{path}: unknown model format (expected .onnx or .xml)")


class Core:
    """Entry point of the runtime: devices, reading and compiling models."""

    def __init__(self):
        self._properties: dict[str, dict[str, Any]] = {}
        self._plugins: dict[str, Plugin] = {}

    @property
    def available_devices(self) -> list[str]:
        """Devices that can run models on this machine (e.g. ``["CPU", "VPU"]``)."""
        names = []
        for name in sorted(load_plugins(), key=lambda n: -load_plugins()[n].priority):
            plugin = self.plugin(name)
            if getattr(plugin, "virtual", False):
                continue
            if plugin.available():
                names.append(name)
        return names

    def plugin(self, device: str) -> Plugin:
        """Return the (shared) plugin instance of a device name such as ``"CPU"``."""
        base = device.split(":", 1)[0].split(".", 1)[0]
        if base not in self._plugins:
            self._plugins[base] = get_plugin(base)()
        return self._plugins[base]

    def read_model(self, model: str | os.PathLike, weights: str | os.PathLike | None = None) -> Model:
        return read_model(model, weights)

    def set_property(self, device: str, properties: Mapping[str, Any]) -> None:
        self._properties.setdefault(device, {}).update(properties)

    def get_property(self, device: str, name: str) -> Any:
        if name in self._properties.get(device, {}):
            return self._properties[device][name]
        defaults = self.plugin(device).supported_properties()
        if name not in defaults:
            raise DeviceError(f"device {device!r} has no property {name!r}")
        return defaults[name]

    def _merged(self, device: str, config: Mapping[str, Any] | None) -> dict[str, Any]:
        merged = dict(self._properties.get(device.split(":", 1)[0], {}))
        merged.update(config or {})
        if ":" in device:
            merged.setdefault("DEVICE_PRIORITIES", device.split(":", 1)[1])
        return merged

    def query_model(self, model: Model, device: str, config: Mapping[str, Any] | None = None
                    ) -> dict[str, str]:
        """Return ``{node_name: device}`` for the nodes ``device`` would run."""
        plugin = self._checked(device)
        return plugin.query_model(model, self._merged(device, config))

    def compile_model(self, model: Model | str | os.PathLike, device: str = "AUTO",
                      config: Mapping[str, Any] | None = None) -> CompiledModel:
        """Compile a Model (or a model file) for ``device``: "CPU", "VPU", "HETERO:VPU,CPU", "AUTO"."""
        if not isinstance(model, Model):
            model = self.read_model(model)
        plugin = self._checked(device)
        properties = self._merged(device, config)
        executable = plugin.compile_model(model.clone(), properties)
        return CompiledModel(model, executable, device, properties)

    def _checked(self, device: str) -> Plugin:
        plugin = self.plugin(device)
        if not plugin.available():
            raise DeviceError(plugin.unavailable_reason())
        return plugin
