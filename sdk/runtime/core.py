"""Core: reads models, lists devices, queries and compiles models for a device."""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from typing import Any

from kiln.drivers.plugin import Plugin, get_plugin, load_plugins
from kiln.errors import DeviceError, ModelFormatError
from kiln.ir import Model
from kiln.runtime import model_blob
from kiln.runtime.compiled_model import OPTIMIZED, CompiledModel

GLOBAL_PROPERTIES = ("CACHE_DIR",)

_COMPILED: dict[str, object] = {}
"""Executables compiled in this process with a CACHE_DIR, by cache key (the most recent 8)."""
"""Properties that ``set_property({...})`` without a device applies to every device."""


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


def _remember(key: str, executable) -> None:
    _COMPILED[key] = executable
    while len(_COMPILED) > 8:
        _COMPILED.pop(next(iter(_COMPILED)))


class Core:
    """Entry point of the runtime: devices, properties, reading, compiling and importing models."""

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

    def set_property(self, device: str | Mapping[str, Any], properties: Mapping[str, Any] | None = None
                     ) -> None:
        """Set properties of ``device`` (``set_property("CPU", {...})``), or of every device
        (``set_property({"CACHE_DIR": path})``)."""
        if isinstance(device, Mapping):
            device, properties = "", device
        self._properties.setdefault(device, {}).update(properties or {})

    def get_property(self, device: str, name: str | None = None) -> Any:
        """Return a property of ``device`` (or a global one: ``get_property("CACHE_DIR")``)."""
        if name is None:
            device, name = "", device
        for scope in (device, ""):
            if name in self._properties.get(scope, {}):
                return self._properties[scope][name]
        if not device:
            if name in GLOBAL_PROPERTIES:
                return ""
            raise DeviceError(f"no global property {name!r}")
        defaults = self.plugin(device).supported_properties()
        if name == "AVAILABLE_DEVICES" or name == "FULL_DEVICE_NAME":
            return device
        if name not in defaults:
            raise DeviceError(f"device {device!r} has no property {name!r}; it has {sorted(defaults)}")
        return defaults[name]

    def _merged(self, device: str, config: Mapping[str, Any] | None) -> dict[str, Any]:
        merged = dict(self._properties.get("", {}))
        merged.update(self._properties.get(device.split(":", 1)[0], {}))
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
        """Compile a Model (or a model file) for ``device``: "CPU", "VPU", "HETERO:VPU,CPU", "AUTO".

        With a ``CACHE_DIR`` property, the compiled model is stored there under a hash
        of the model and properties, and a later compile of the same model loads it.
        """
        if not isinstance(model, Model):
            model = self.read_model(model)
        plugin = self._checked(device)
        properties = self._merged(device, config)
        cache_dir = properties.get("CACHE_DIR")
        if cache_dir:
            key = model_blob.cache_key(model, device, properties)
            path = model_blob.cache_path(cache_dir, key)
            if key in _COMPILED and path.exists():  # executables are thread-safe: share it
                return CompiledModel(model, _COMPILED[key], device, properties)
            if path.exists():
                try:
                    _, _, executable, _ = self._load_blob(path.read_bytes(), device, config, str(path))
                    _remember(key, executable)
                    return CompiledModel(model, executable, device, properties)
                except ModelFormatError:
                    path.unlink(missing_ok=True)  # a stale or damaged entry: compile afresh
        executable = plugin.compile_model(model.clone(), properties)
        compiled = CompiledModel(model, executable, device, properties)
        if cache_dir:
            model_blob.store(path, compiled.export_model())
            _remember(key, executable)
        return compiled

    def import_model(self, blob: bytes | io.IOBase, device: str | None = None,
                     config: Mapping[str, Any] | None = None) -> CompiledModel:
        """Return the CompiledModel stored by ``compiled.export_model()`` (bytes or a binary stream).

        ``device`` defaults to the one it was compiled for; ``config`` adds properties.
        """
        if hasattr(blob, "read"):
            blob = blob.read()
        model, device, executable, properties = self._load_blob(blob, device, config, "imported model")
        return CompiledModel(model, executable, device, properties)

    def _load_blob(self, blob: bytes, device: str | None, config, source: str):
        header, model = model_blob.unpack(blob, source)
        device = device or header["device"]
        properties = dict(header["properties"])
        properties.update(self._merged(device, config))
        plugin = self._checked(device)
        compile_props = dict(properties)
        if header.get("optimized") and device == header["device"]:
            compile_props[OPTIMIZED] = True
        return model, device, plugin.compile_model(model.clone(), compile_props), properties

    def _checked(self, device: str) -> Plugin:
        plugin = self.plugin(device)
        if not plugin.available():
            raise DeviceError(plugin.unavailable_reason())
        return plugin
