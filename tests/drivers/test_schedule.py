"""The device-neutral schedule: fusion groups, constant folding and buffer planning."""

from __future__ import annotations

import numpy as np
from kiln.drivers.schedule import build_schedule, plan_buffers
from kiln.ir import ElementType, Model, constant, make, parameter

F32 = ElementType.f32


def anchors(*types):
    return lambda node, constants: node.type_name in types


def conv(port, rng, channels=4):
    w = constant(rng.standard_normal((channels, channels, 1, 1)).astype(np.float32))
    return make("Convolution", port, w, strides=[1, 1], dilations=[1, 1], pads_begin=[0, 0],
                pads_end=[0, 0]).output(0)


def test_elementwise_after_anchor_becomes_its_epilogue():
    rng = np.random.default_rng(0)
    x = parameter("x", F32, (1, 4, 3, 3))
    y = conv(x.output(0), rng)
    y = make("Add", y, constant(np.ones((1, 4, 1, 1), np.float32))).output(0)
    y = make("Relu", y).output(0)
    schedule = build_schedule(Model([y], [x]), anchors("Convolution"))
    assert [s.kind for s in schedule.steps] == ["anchor"]
    assert [op.name for op in schedule.steps[0].chain.ops] == ["add", "relu"]


def test_value_read_twice_ends_a_chain():
    rng = np.random.default_rng(1)
    x = parameter("x", F32, (1, 4, 3, 3))
    y = make("Relu", conv(x.output(0), rng)).output(0)
    a = make("Sigmoid", y).output(0)
    b = make("Tanh", y).output(0)
    out = make("Add", a, b).output(0)
    schedule = build_schedule(Model([out], [x]), anchors("Convolution"))
    kinds = [(s.kind, s.type_name) for s in schedule.steps]
    assert kinds[0] == ("anchor", "Convolution+Relu")
    assert ("chain", "Sigmoid") in kinds and kinds[-1][1].endswith("Add")


def test_residual_waits_for_its_other_input():
    rng = np.random.default_rng(2)
    x = parameter("x", F32, (1, 4, 3, 3))
    main = conv(x.output(0), rng)
    short = conv(x.output(0), rng)
    out = make("Relu", make("Add", main, short).output(0)).output(0)
    schedule = build_schedule(Model([out], [x]), anchors("Convolution"))
    assert len(schedule.steps) == 2
    assert schedule.steps[1].type_name == "Convolution+Add+Relu"


def test_constant_subgraphs_are_folded():
    x = parameter("x", F32, (2, 3))
    c = make("Add", constant(np.ones(3, np.float32)), constant(np.ones(3, np.float32))).output(0)
    shape = make("ShapeOf", x.output(0)).output(0)
    out = make("Reshape", make("Multiply", x.output(0), c).output(0), shape, special_zero=False).output(0)
    schedule = build_schedule(Model([out], [x]), anchors())
    assert c in schedule.constants and shape in schedule.constants
    np.testing.assert_array_equal(schedule.constants[shape], [2, 3])


def _intervals(schedule, plan):
    produced = {port: i for i, step in enumerate(schedule.steps) for port in step.outputs}
    last = dict(produced)
    for i, step in enumerate(schedule.steps):
        for port in step.inputs:
            if port in last:
                last[port] = i
    return {port: (produced[port], last[port]) for port in plan.slot_of}


def test_buffer_plan_reuses_slots_without_overlap():
    rng = np.random.default_rng(3)
    x = parameter("x", F32, (1, 4, 8, 8))
    port = x.output(0)
    skips = []
    for i in range(8):
        port = make("Relu", conv(port, rng)).output(0)
        if i % 3 == 2:  # a long-lived value: read again three steps later
            skips.append(port)
        if i % 3 == 1 and skips:
            port = make("Add", port, skips.pop()).output(0)
    port = make("Sigmoid", port).output(0)
    schedule = build_schedule(Model([port], [x]), anchors("Convolution"))
    plan = plan_buffers(schedule, lambda s: s.kind != "node")
    assert len(plan.slot_bytes) < len(plan.slot_of)
    spans = _intervals(schedule, plan)
    for a, slot_a in plan.slot_of.items():
        for b, slot_b in plan.slot_of.items():
            if a is not b and slot_a == slot_b:
                (a0, a1), (b0, b1) = spans[a], spans[b]
                assert a1 < b0 or b1 < a0, f"{a} and {b} share slot {slot_a} while both alive"
        assert plan.slot_bytes[slot_a] >= int(np.prod(a.shape)) * 4


def test_views_keep_their_source_slot_alive():
    from kiln.drivers.cpu.executable import CpuExecutable
    from kiln.ir import evaluate

    rng = np.random.default_rng(4)
    x = parameter("x", F32, (1, 4, 6, 6))
    port = x.output(0)
    for _ in range(5):
        port = make("Relu", conv(port, rng)).output(0)
        view = make("Reshape", port, constant(np.array([1, 4, 36])), special_zero=False).output(0)
        other = make("Relu", conv(port, rng)).output(0)  # would reuse a slot the view still reads
        port = make("Add", make("Reshape", other, constant(np.array([1, 4, 36])),
                                special_zero=False).output(0), view).output(0)
        port = make("Reshape", port, constant(np.array([1, 4, 6, 6])), special_zero=False).output(0)
    model = Model([port], [x])
    value = rng.standard_normal((1, 4, 6, 6)).astype(np.float32)
    got = CpuExecutable(model).infer([value])[0]
    np.testing.assert_allclose(got, evaluate(model, [value])[0], rtol=1e-4, atol=1e-4)


def test_concat_inputs_are_written_in_place():
    from kiln.drivers.cpu.executable import CpuExecutable
    from kiln.drivers.schedule import concat_in_place
    from kiln.ir import evaluate

    rng = np.random.default_rng(5)
    x = parameter("x", F32, (1, 4, 5, 5))
    a = make("Relu", conv(x.output(0), rng)).output(0)
    b = make("Sigmoid", conv(x.output(0), rng)).output(0)
    cat = make("Concat", a, b, axis=1).output(0)
    out = make("Relu", conv(cat, rng, channels=8)).output(0)
    model = Model([out], [x])
    schedule = build_schedule(model, anchors("Convolution"))
    aliases = concat_in_place(schedule, lambda s: s.kind != "node")
    assert aliases == {a: (cat, 0), b: (cat, 4 * 25 * 4)}
    plan = plan_buffers(schedule, lambda s: s.kind != "node", aliases=aliases)
    assert a not in plan.slot_of and cat in plan.slot_of
    executable = CpuExecutable(model, profiling=True)
    value = rng.standard_normal((1, 4, 5, 5)).astype(np.float32)
    got = executable.infer([value])[0]
    np.testing.assert_allclose(got, evaluate(model, [value])[0], rtol=1e-4, atol=1e-5)
    assert "concat_in_place" in {row["exec_type"] for row in executable.profiling_info()}
