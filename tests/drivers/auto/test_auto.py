"""AUTO: picks the best device that runs the whole model, says why, falls back on failure."""

from __future__ import annotations

import numpy as np
import pytest
from kiln import CompileError, Core, DeviceError
from kiln.drivers.plugin import PLUGINS, Executable, Plugin, load_plugins
from kiln.ir import ElementType, Model, constant, evaluate, make, parameter

TAKES = {"Convolution", "MatMul", "Add", "Relu"}


class _Reference(Executable):
    def __init__(self, model):
        self.model = model

    def infer(self, inputs):
        return evaluate(self.model, inputs)


class AutoTestAccPlugin(Plugin):
    """A test-only accelerator that takes TAKES; refuses to compile when AUTOACC_FAIL is set."""

    device_name = "AUTOACC"
    priority = 60

    def query_model(self, model, properties):
        return {n.name: self.device_name for n in model.ordered_nodes() if n.type_name in TAKES}

    def compile_model(self, model, properties):
        if properties.get("AUTOACC_FAIL"):
            raise CompileError("layer 'conv' too large for any tiling (test)")
        return _Reference(model)


PLUGINS.pop(AutoTestAccPlugin.device_name)  # registered only while a test of this file runs


@pytest.fixture(autouse=True)
def autoacc_device(monkeypatch):
    load_plugins()
    monkeypatch.setitem(PLUGINS, AutoTestAccPlugin.device_name, AutoTestAccPlugin)


def _model(with_pool: bool = False, heavy: bool = True) -> Model:
    x = parameter("x", ElementType.f32, (1, 2, 4, 4))
    y = x.output(0)
    if heavy:
        w = constant(np.ones((2, 2, 1, 1), np.float32) * 0.5)
        y = make("Convolution", y, w, strides=[1, 1], pads_begin=[0, 0], pads_end=[0, 0],
                 dilations=[1, 1], name="conv").output(0)
    y = make("Relu", y, name="relu").output(0)
    if with_pool:
        y = make("MaxPool", y, kernel=[2, 2], strides=[2, 2], pads_begin=[0, 0], pads_end=[0, 0],
                 name="pool").outputs[0]
    return Model([y], [x])


def _check(compiled, model):
    x = np.random.default_rng(0).standard_normal((1, 2, 4, 4)).astype(np.float32)
    np.testing.assert_allclose(compiled(x)[0], evaluate(model, [x])[0], rtol=1e-6)


def test_auto_picks_accelerator_that_takes_everything():
    model = _model()
    compiled = Core().compile_model(model, "AUTO:AUTOACC,CPU")
    assert compiled.executable.device == "AUTOACC"
    assert compiled.executable.selection == "AUTO chose AUTOACC"
    _check(compiled, model)


def test_auto_falls_back_to_cpu_with_reason():
    model = _model(with_pool=True)
    compiled = Core().compile_model(model, "AUTO:AUTOACC,CPU")
    assert compiled.executable.device == "CPU"
    assert "AUTOACC: does not take 1 of 3 node(s), e.g. 'pool' (MaxPool)" in compiled.executable.selection
    _check(compiled, model)


def test_auto_keeps_light_models_on_cpu():
    compiled = Core().compile_model(_model(heavy=False), "AUTO:AUTOACC,CPU")
    assert compiled.executable.device == "CPU"
    assert "no convolution or matmul" in compiled.executable.selection


def test_auto_recovers_from_compile_failure():
    model = _model()
    compiled = Core().compile_model(model, "AUTO:AUTOACC,CPU", {"AUTOACC_FAIL": True})
    assert compiled.executable.device == "CPU"
    assert "too large for any tiling" in compiled.executable.selection
    _check(compiled, model)


def test_auto_default_candidates_and_query():
    core = Core()
    model = _model(with_pool=True)
    compiled = core.compile_model(model)  # plain "AUTO": every available device by priority
    assert compiled.executable.device in core.available_devices
    assert set(core.query_model(model, "AUTO").values()) == {compiled.executable.device}
    _check(compiled, model)


def test_auto_errors():
    with pytest.raises(DeviceError, match="cannot be a candidate"):
        Core().compile_model(_model(), "AUTO:HETERO")
    with pytest.raises(DeviceError, match="no device runs the whole model"):
        Core().compile_model(_model(with_pool=True), "AUTO:AUTOACC")
