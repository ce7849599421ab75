"""HETERO: placement by priority, acyclic subgraphs, boundary conversion, reasons, errors."""

from __future__ import annotations

import numpy as np
import pytest
from kiln import CompileError, Core, DeviceError
from kiln.ir import ElementType, Model, constant, evaluate, make, parameter
from quant_models import residual_cnn, transformer_layer
from testacc_device import TestAccPlugin


def _feed(model, seed=0):
    rng = np.random.default_rng(seed)
    shape = [1 if d is None else d for d in model.parameters[0].attrs["shape"]]
    return rng.standard_normal(shape).astype(np.float32)


def test_hetero_cpu_alone_is_one_subgraph_and_exact():
    model = residual_cnn()
    x = _feed(model)
    compiled = Core().compile_model(model, "HETERO:CPU")
    placement = compiled.executable.placement
    assert len(placement.subgraphs) == 1 and placement.subgraphs[0].device == "CPU"
    assert not placement.reasons
    np.testing.assert_allclose(compiled({"input": x})["logits"], evaluate(model, [x])[0], rtol=1e-5,
                               atol=1e-5)


@pytest.mark.parametrize("build", [residual_cnn, transformer_layer])
def test_hetero_splits_by_priority_and_matches_reference(build):
    model = build()
    x = _feed(model)
    core = Core()
    TestAccPlugin.compiled.clear()
    compiled = core.compile_model(model, "HETERO:TESTACC,CPU")
    placement = compiled.executable.placement
    heavy = [n for n in model.ordered_nodes() if n.type_name in ("Convolution", "GroupConvolution", "MatMul")]
    assert heavy and all(placement.devices[n.name] == "TESTACC" for n in heavy)
    for name, device in placement.devices.items():
        if device == "CPU":
            assert placement.reasons[name].startswith("TESTACC: unsupported op")
    assert {s.device for s in placement.subgraphs} == {"TESTACC", "CPU"}
    assert len(TestAccPlugin.compiled) == sum(s.device == "TESTACC" for s in placement.subgraphs)
    got = compiled({"input": x})[0]
    assert got.dtype == np.float32  # TESTACC returns f64; the boundary converts back
    np.testing.assert_allclose(got, evaluate(model, [x])[0], rtol=1e-4, atol=1e-5)
    assert core.query_model(model, "HETERO:TESTACC,CPU") == placement.devices
    assert "nodes not on TESTACC" in placement.report()
    rows = compiled.executable.profiling_info()
    assert [r["device"] for r in rows] == [s.device for s in placement.subgraphs]


def test_hetero_subgraphs_have_no_cycle():
    # x -> a (acc) -> b (cpu) -> c (acc), and a -> c directly: c may not join a's subgraph.
    x = parameter("x", ElementType.f32, (1, 4))
    w = constant(np.eye(4, dtype=np.float32))
    a = make("MatMul", x.output(0), w, name="a").output(0)
    b = make("Softmax", a, axis=-1, name="b").output(0)
    c = make("Add", a, b, name="c").output(0)
    model = Model([c], [x])
    compiled = Core().compile_model(model, "HETERO:TESTACC,CPU")
    subs = compiled.executable.placement.subgraphs
    assert [s.device for s in subs] == ["TESTACC", "CPU", "TESTACC"]
    value = np.arange(4, dtype=np.float32)[None]
    np.testing.assert_allclose(compiled(value)[0], evaluate(model, [value])[0], rtol=1e-6)


def test_hetero_reason_for_refused_node_and_unplaceable_node():
    model = residual_cnn()
    core = Core()
    config = {"TESTACC_REFUSE": ("pw",)}
    reasons = core.plugin("HETERO").placement_reasons(model, {"DEVICE_PRIORITIES": "TESTACC,CPU", **config})
    assert reasons["pw"] == "TESTACC: too large for the scratchpad (test)"
    assert core.query_model(model, "HETERO:TESTACC,CPU", config)["pw"] == "CPU"
    with pytest.raises(DeviceError, match=r"no device runs .*pool \(MaxPool\): TESTACC: unsupported op"):
        core.compile_model(model, "HETERO:TESTACC")


@pytest.mark.parametrize("device, message", [
    ("HETERO:NOPE,CPU", "unknown device 'NOPE'"),
    ("HETERO:CPU,CPU", "listed twice"),
    ("HETERO:AUTO,CPU", "cannot be one of HETERO's devices"),
])
def test_hetero_bad_priorities(device, message):
    with pytest.raises(DeviceError, match=message):
        Core().compile_model(residual_cnn(), device)


def test_hetero_async_requests():
    model = transformer_layer()
    compiled = Core().compile_model(model, "HETERO:TESTACC,CPU")
    x = _feed(model, 3)
    request = compiled.create_infer_request()
    request.start_async({"input": x})
    request.wait()
    np.testing.assert_allclose(request.results[0], evaluate(model, [x])[0], rtol=1e-4, atol=1e-5)


def test_hetero_writes_perfetto_trace(tmp_path):
    import json

    model = residual_cnn()
    path = tmp_path / "hetero.json"
    compiled = Core().compile_model(model, "HETERO:TESTACC,CPU", {"HETERO_TRACE_PATH": str(path)})
    compiled({"input": _feed(model)})
    events = json.loads(path.read_text())["traceEvents"]
    spans = [e for e in events if e["ph"] == "X"]
    assert [e["name"] for e in spans] == [s.name for s in compiled.executable.placement.subgraphs]
    assert {e["args"]["name"] for e in events if e["ph"] == "M"} == {"TESTACC", "CPU"}
    assert all(e["dur"] >= 0 for e in spans)


def test_hetero_falls_back_when_a_device_compiler_refuses():
    model = residual_cnn()
    x = _feed(model)
    compiled = Core().compile_model(model, "HETERO:TESTACC,CPU", {"TESTACC_FAIL_COMPILE": True})
    placement = compiled.executable.placement
    assert {s.device for s in placement.subgraphs} == {"CPU"}
    assert placement.reasons["stem"] == "TESTACC: compiling subgraph0_TESTACC failed: layer too large " \
        "for any tiling (test)"
    np.testing.assert_allclose(compiled({"input": x})[0], evaluate(model, [x])[0], rtol=1e-4, atol=1e-5)
    x = parameter("x", ElementType.f32, (1, 4))
    small = Model([make("MatMul", x.output(0), constant(np.eye(4, dtype=np.float32))).output(0)], [x])
    with pytest.raises(CompileError, match="no later device in .* takes all of it"):
        Core().compile_model(small, "HETERO:TESTACC", {"TESTACC_FAIL_COMPILE": True})


def test_hetero_rejects_duplicate_node_names():
    x = parameter("x", ElementType.f32, (1, 4))
    a = make("Relu", x.output(0), name="twin").output(0)
    b = make("Relu", a, name="twin").output(0)
    with pytest.raises(DeviceError, match="two nodes named 'twin'"):
        Core().compile_model(Model([b], [x]), "HETERO:TESTACC,CPU")


def test_hetero_boundary_names_do_not_collide_with_nodes():
    # The tensor "b" crossing into TESTACC's subgraph is named like a node in that subgraph.
    x = parameter("x", ElementType.f32, (1, 4))
    a = make("Softmax", x.output(0), axis=-1, name="a").output(0)
    a.names.add("b")
    b = make("MatMul", a, constant(np.eye(4, dtype=np.float32)), name="b").output(0)
    model = Model([b], [x])
    compiled = Core().compile_model(model, "HETERO:TESTACC,CPU")
    value = np.arange(4, dtype=np.float32)[None]
    np.testing.assert_allclose(compiled(value)[0], evaluate(model, [value])[0], rtol=1e-6)
    names = [p.name for m in compiled.executable.sub_models for p in m.parameters]
    assert "b" not in names and "b_" in names
