"""ONNX If and Scan, inlined into the IR graph.

If: a condition known at conversion (a constant, or computed from static shapes) selects
one branch, which is inlined; otherwise both branches are inlined and each output is a
Select on the condition, which needs both branches to give outputs of one element type
and one static shape (both branches then run, so an untaken branch must not fail).

Scan: the body is unrolled once per step; the scanned axis must have a static length, and
at most MAX_UNROLLED_NODES IR nodes may result.
"""

from __future__ import annotations

import numpy as np
from kiln.frontends.onnx.registry import onnx_op
from kiln.ir import ElementType
from kiln.ir.ops._shape_values import known_value
from kiln.ir.types import is_static

MAX_UNROLLED_NODES = 50_000
"""Most ONNX nodes a Scan may expand into when unrolled."""


@onnx_op("If")
def if_(ctx):
    cond = ctx.input(0)
    then_graph, else_graph = ctx.attr("then_branch"), ctx.attr("else_branch")
    value = known_value(cond)
    if value is not None:
        if value.size != 1:
            raise ctx.unsupported(f"condition has {value.size} elements, not 1")
        taken = bool(value.reshape(-1)[0])
        chosen = then_graph if taken else else_graph
        outputs = ctx.converter.convert_body(chosen, [], f"{ctx.name}/{chosen.name or 'branch'}/")
        if cond.constant_value() is None:
            outputs = _guarded(ctx, cond, taken, outputs)
        return outputs
    then_out = ctx.converter.convert_body(then_graph, [], f"{ctx.name}/then/")
    else_out = ctx.converter.convert_body(else_graph, [], f"{ctx.name}/else/")
    outputs = []
    for index, (a, b) in enumerate(zip(then_out, else_out)):
        if a.element_type != b.element_type or not is_static(a.shape) or a.shape != b.shape:
            raise ctx.unsupported(
                f"the condition is known only at inference and output {index} differs between branches "
                f"({a.element_type.value}{list(a.shape or [])} vs {b.element_type.value}"
                f"{list(b.shape or [])}); Kiln has no dynamic If op")
        flag = cond if cond.shape == () else ctx.make("Reshape", cond, ctx.const([], np.int64),
                                                         special_zero=False)
        outputs.append(ctx.make("Select", flag, a, b))
    return outputs


def pinned(ctx, port, shape):
    """Return ``port`` reshaped to its conversion-time ``shape`` (None dims copied): a later
    ``Model.reshape()`` to other sizes then fails at this node instead of silently keeping
    a graph unrolled or specialized for the old sizes."""
    pattern = [0 if d is None else d for d in shape]
    return ctx.make("Reshape", port, ctx.const(np.asarray(pattern, np.int64)), special_zero=True)


def _guarded(ctx, cond, taken: bool, outputs):
    """Make ``outputs`` of a branch chosen from shapes known at conversion fail loudly (an
    out-of-range Gather named ``.../branch_guard``) when, after ``Model.reshape()``, the
    condition no longer selects that branch."""
    flag = ctx.make("Reshape", cond, ctx.const([], np.int64), special_zero=False)
    if flag.element_type != ElementType.boolean:
        flag = ctx.make("NotEqual", flag, ctx.const(np.zeros((), flag.element_type.numpy)))
    if taken:
        flag = ctx.make("LogicalNot", flag)
    index = ctx.make("Convert", flag, destination_type=ElementType.i64)  # 0 while the branch holds
    guarded = []
    for port in outputs:
        zero = ctx.make_node("Gather", ctx.const(np.zeros(1, port.element_type.numpy)), index,
                             ctx.const(np.int64(0)))
        zero.name = f"{ctx.name}/branch_guard_{len(guarded)}"
        guarded.append(ctx.make("Add", port, zero.output(0)) if port.element_type.is_float or
                       port.element_type.is_integer else port)
    return guarded


def _step(ctx, port, index: int, axis: int):
    """Return slice ``index`` of ``port`` along ``axis`` with that axis removed."""
    return ctx.make("Gather", port, ctx.const(np.int64(index)), ctx.const(np.int64(axis)))


def _stack(ctx, ports, axis: int):
    """Stack ports along a new ``axis``."""
    grown = [ctx.make("Unsqueeze", p, ctx.const([axis], np.int64)) for p in ports]
    return grown[0] if len(grown) == 1 else ctx.make("Concat", *grown, axis=axis)


def _unroll_scan(ctx, body, states, scans, step_count, in_axes, in_dirs, out_axes, out_dirs, prefix):
    """Run ``body`` ``step_count`` times; return final states and stacked scan outputs."""
    per_step = [[] for _ in range(len(body.output) - len(states))]
    for t in range(step_count):
        slices = [_step(ctx, x, step_count - 1 - t if d else t, a)
                  for x, a, d in zip(scans, in_axes, in_dirs)]
        outs = ctx.converter.convert_body(body, states + slices, f"{prefix}step{t}/")
        states = outs[:len(states)]
        for k, port in enumerate(outs[len(states):]):
            per_step[k].append(port)
    stacked = []
    for k, ports in enumerate(per_step):
        if out_dirs[k]:
            ports = ports[::-1]
        rank = (ports[0].shape and len(ports[0].shape)) or 0
        axis = out_axes[k] + rank + 1 if out_axes[k] < 0 else out_axes[k]
        stacked.append(_stack(ctx, ports, axis))
    return states, stacked


@onnx_op("Scan", since=9)
def scan(ctx):
    body = ctx.attr("body")
    num_scans = ctx.attr("num_scan_inputs")
    inputs = [p for p in ctx.inputs]
    states, scans = inputs[:len(inputs) - num_scans], inputs[len(inputs) - num_scans:]
    num_outputs = len(body.output) - len(states)
    in_axes = ctx.attr("scan_input_axes", [0] * num_scans)
    in_dirs = ctx.attr("scan_input_directions", [0] * num_scans)
    out_axes = ctx.attr("scan_output_axes", [0] * num_outputs)
    out_dirs = ctx.attr("scan_output_directions", [0] * num_outputs)
    lengths = set()
    for x, axis in zip(scans, in_axes):
        if x.shape is None or x.shape[axis] is None:
            raise ctx.unsupported(f"scan input {x.name!r} has no static length along axis {axis}; "
                                  "Kiln unrolls Scan")
        lengths.add(x.shape[axis])
        in_axes = [a + len(x.shape) if a < 0 else a for a in in_axes]
    if len(lengths) != 1:
        raise ctx.unsupported(f"scan inputs have different lengths {sorted(lengths)}")
    steps = lengths.pop()
    if steps * max(len(body.node), 1) > MAX_UNROLLED_NODES:
        raise ctx.unsupported(f"{steps} steps of a {len(body.node)}-node body are too many to unroll")
    scans = [pinned(ctx, x, tuple(steps if i == a else None for i in range(len(x.shape))))
             for x, a in zip(scans, in_axes)]
    final, stacked = _unroll_scan(ctx, body, states, scans, steps, in_axes, in_dirs, out_axes, out_dirs,
                                  f"{ctx.name}/")
    return final + stacked


@onnx_op("Scan", since=8)
def scan_v8(ctx):
    body = ctx.attr("body")
    num_scans = ctx.attr("num_scan_inputs")
    if ctx.optional_input(0) is not None:
        raise ctx.unsupported("sequence_lens is not supported")
    inputs = ctx.inputs[1:]
    states, scans = inputs[:len(inputs) - num_scans], inputs[len(inputs) - num_scans:]
    num_outputs = len(body.output) - len(states)
    dirs = ctx.attr("directions", [0] * num_scans)
    batch = {x.shape[0] if x.shape else None for x in inputs}
    steps = {x.shape[1] if x.shape and len(x.shape) > 1 else None for x in scans}
    if None in batch or None in steps or len(batch) != 1 or len(steps) != 1:
        raise ctx.unsupported("Scan-8 needs static, equal batch and sequence lengths")
    batch, steps = batch.pop(), steps.pop()
    states = [pinned(ctx, x, (batch,) + (None,) * (len(x.shape) - 1)) for x in states]
    scans = [pinned(ctx, x, (batch, steps) + (None,) * (len(x.shape) - 2)) for x in scans]
    finals, outs = [[] for _ in states], [[] for _ in range(num_outputs)]
    for b in range(batch):
        item_states = [_step(ctx, s, b, 0) for s in states]
        item_scans = [_step(ctx, x, b, 0) for x in scans]
        final, stacked = _unroll_scan(ctx, body, item_states, item_scans, steps, [0] * num_scans, dirs,
                                      [0] * num_outputs, [0] * num_outputs, f"{ctx.name}/batch{b}/")
        for k, port in enumerate(final):
            finals[k].append(port)
        for k, port in enumerate(stacked):
            outs[k].append(port)
    return [_stack(ctx, ports, 0) for ports in finals + outs]


@onnx_op("Loop")
def loop(ctx):
    """Unroll a Loop whose trip count is known at conversion (a constant or computed from static
    shapes). A condition known only at inference freezes the loop-carried values once it turns
    false (each step's values go through a Select); scan outputs then need a condition that is
    constantly true, since their length would depend on the data."""
    body = ctx.attr("body")
    trip_port, cond = ctx.optional_input(0), ctx.optional_input(1)
    carried = [p for p in ctx.inputs[2:]]
    trips = known_value(trip_port) if trip_port is not None else None
    if trips is None:
        raise ctx.unsupported("the trip count is known only at inference (or absent); Kiln unrolls Loop "
                              "and has no dynamic Loop op")
    trips = int(trips.reshape(-1)[0])
    num_scans = len(body.output) - 1 - len(carried)
    if trips * max(len(body.node), 1) > MAX_UNROLLED_NODES:
        raise ctx.unsupported(f"{trips} iterations of a {len(body.node)}-node body are too many to unroll")
    cond_value = known_value(cond) if cond is not None else np.array(True)
    if cond is None:
        cond = ctx.const(np.array(True))
    per_step = [[] for _ in range(num_scans)]
    running = cond
    always = cond_value is not None and bool(cond_value.reshape(-1)[0])
    for i in range(trips):
        if cond_value is not None and not bool(cond_value.reshape(-1)[0]):
            break
        outs = ctx.converter.convert_body(body, [ctx.const(np.int64(i)), running] + carried,
                                          f"{ctx.name}/iteration{i}/")
        cond_out, values, scans = outs[0], outs[1:1 + len(carried)], outs[1 + len(carried):]
        step_value = known_value(cond_out)
        if always and step_value is not None and bool(step_value.reshape(-1)[0]):
            carried = values
        else:
            if scans:
                raise ctx.unsupported("scan outputs of a Loop whose condition is known only at inference")
            always = False
            flag = ctx.make("Reshape", running, ctx.const([], np.int64), special_zero=False)
            carried = [ctx.make("Select", flag, new, old) for new, old in zip(values, carried)]
            running = ctx.make("LogicalAnd", running, cond_out)
        cond_value = step_value if always else None
        for k, port in enumerate(scans):
            per_step[k].append(port)
    stacked = []
    for ports in per_step:
        if not ports:
            raise ctx.unsupported("a Loop that runs no iteration has scan outputs of unknown shape")
        stacked.append(_stack(ctx, ports, 0))
    return carried + stacked
