"""The AUTO plugin: compile the whole model on the best available device that can run it.

Candidates are ``DEVICE_PRIORITIES`` when given (``"AUTO:VPU,CPU"``), else every
available non-virtual device, highest plugin priority first. A candidate is chosen when
its ``query_model`` takes every compute node of the model (constants and inputs/outputs
aside) and, for any device but the last candidate, the model has heavy work for it (a
convolution or matmul). If compiling on the chosen device fails, AUTO records why and
tries the next. The choice and the reason each earlier candidate was passed over are in
``compiled.executable.device`` and ``compiled.executable.selection``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kiln.drivers.plugin import Executable, Plugin, get_plugin, load_plugins
from kiln.errors import DeviceError, KilnError
from kiln.ir import Model

PRIORITIES = "DEVICE_PRIORITIES"
HEAVY_TYPES = ("Convolution", "GroupConvolution", "ConvolutionBackpropData",
               "GroupConvolutionBackpropData", "MatMul", "Einsum")
"""Ops whose work justifies an accelerator."""


def compute_nodes(model: Model) -> list:
    """Return the nodes a device must run: all but Parameters, Results and constant-only nodes."""
    constant: set[int] = set()
    nodes = []
    for node in model.ordered_nodes():
        if node.type_name in ("Parameter", "Result"):
            continue
        if node.type_name == "Constant" or (node.inputs and all(id(p.node) in constant for p in node.inputs)):
            constant.add(id(node))
            continue
        nodes.append(node)
    return nodes


class AutoExecutable(Executable):
    """The executable of the chosen device, with the choice recorded."""

    def __init__(self, inner: Executable, device: str, selection: str):
        self.inner = inner
        self.device = device
        self.selection = selection

    def infer(self, inputs):
        return self.inner.infer(inputs)

    def profiling_info(self):
        return [dict(row, device=row.get("device", self.device)) for row in self.inner.profiling_info()]

    def __getattr__(self, name):  # placement, plan, ... of the chosen device's executable
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)


class AutoPlugin(Plugin):
    """Virtual device "AUTO"."""

    device_name = "AUTO"
    priority = 0
    virtual = True

    def __init__(self):
        self._plugins: dict[str, Plugin] = {}

    def supported_properties(self) -> dict[str, Any]:
        return {PRIORITIES: ""}

    def _plugin(self, name: str) -> Plugin:
        if name not in self._plugins:
            self._plugins[name] = get_plugin(name)()
        return self._plugins[name]

    def candidates(self, properties: Mapping[str, Any]) -> list[str]:
        """Return the devices AUTO considers, in the order it prefers them."""
        text = str(properties.get(PRIORITIES) or "")
        names = [d.strip() for d in text.split(",") if d.strip()]
        if not names:
            plugins = load_plugins()
            names = [n for n in sorted(plugins, key=lambda n: (-plugins[n].priority, n))
                     if not getattr(plugins[n], "virtual", False)]
        for name in names:
            if name in ("AUTO", "HETERO"):
                raise DeviceError(f"AUTO: {name} cannot be a candidate of AUTO")
        return names

    def rank(self, model: Model, properties: Mapping[str, Any]) -> tuple[list[str], dict[str, str]]:
        """Return the devices able to run all of ``model`` (best first) and why others cannot."""
        names = self.candidates(properties)
        inner = {k: v for k, v in properties.items() if k != PRIORITIES}
        nodes = compute_nodes(model)
        heavy = [n for n in nodes if n.type_name in HEAVY_TYPES]
        able, why = [], {}
        for position, name in enumerate(names):
            plugin = self._plugin(name)
            if not plugin.available():
                why[name] = plugin.unavailable_reason()
                continue
            last = position == len(names) - 1
            if not heavy and not last and name != "CPU":
                why[name] = "the model has no convolution or matmul to accelerate"
                continue
            taken = plugin.query_model(model, inner)
            missing = [n for n in nodes if n.name not in taken]
            if missing:
                reasons = plugin.placement_reasons(model, inner)
                first = missing[0]
                why[name] = (f"does not take {len(missing)} of {len(nodes)} node(s), e.g. {first.name!r} "
                             f"({first.type_name}): {reasons.get(first.name, 'unsupported')}")
                continue
            able.append(name)
        return able, why

    def select(self, model: Model, properties: Mapping[str, Any]) -> str:
        """Return the device AUTO would compile ``model`` for."""
        able, why = self.rank(model, properties)
        if not able:
            raise DeviceError("AUTO: no device runs the whole model: "
                              + "; ".join(f"{d}: {r}" for d, r in why.items()))
        return able[0]

    def query_model(self, model, properties):
        device = self.select(model, properties)
        inner = {k: v for k, v in properties.items() if k != PRIORITIES}
        return dict(self._plugin(device).query_model(model, inner))

    def placement_reasons(self, model, properties):
        device = self.select(model, properties)
        inner = {k: v for k, v in properties.items() if k != PRIORITIES}
        return self._plugin(device).placement_reasons(model, inner)

    def compile_model(self, model, properties):
        able, why = self.rank(model, properties)
        if not able:
            raise DeviceError("AUTO: no device runs the whole model: "
                              + "; ".join(f"{d}: {r}" for d, r in why.items()))
        inner = {k: v for k, v in properties.items() if k != PRIORITIES}
        for device in able:
            try:
                executable = self._plugin(device).compile_model(model.clone(), inner)
            except KilnError as error:
                why[device] = f"compiling failed: {error}"
                continue
            passed = "; ".join(f"{d}: {r}" for d, r in why.items())
            selection = f"AUTO chose {device}" + (f" (passed over: {passed})" if passed else "")
            return AutoExecutable(executable, device, selection)
        raise DeviceError("AUTO: no device could compile the model: "
                          + "; ".join(f"{d}: {r}" for d, r in why.items()))
