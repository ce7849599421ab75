"""ONNX RNN, GRU and LSTM onto the IR's RNNSequence, GRUSequence and LSTMSequence (opset5).

ONNX keeps time first (``layout=0``: X is (seq, batch, input)) and states direction first;
the IR is batch first, so the converter transposes around the sequence op. LSTM gates are
reordered from ONNX's ``i, o, f, c`` to OpenVINO's ``f, i, c, o``, and the input and recurrent
biases are summed (GRU with ``linear_before_reset`` keeps the recurrent ``h`` bias apart).
Peepholes, coupled input-forget gates and activations other than sigmoid/tanh/relu are
not supported.
"""

from __future__ import annotations

import numpy as np
from kiln.frontends.onnx.registry import onnx_op
from kiln.ir import ElementType

LSTM_GATES_FROM_ONNX = [2, 0, 3, 1]
"""For each OpenVINO LSTM gate (f, i, c, o), its position in ONNX's order (i, o, f, c)."""

DEFAULT_ACTIVATIONS = {"RNN": ["tanh"], "GRU": ["sigmoid", "tanh"], "LSTM": ["sigmoid", "tanh", "tanh"]}
GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}


def activations(ctx, kind: str, directions: int) -> list[str]:
    """Return the activation names for the IR op (one set, shared by both directions)."""
    names = [str(n).lower() for n in (ctx.attr("activations") or DEFAULT_ACTIVATIONS[kind])]
    count = len(DEFAULT_ACTIVATIONS[kind])
    if directions == 2 and len(names) == 2 * count:
        if names[:count] != names[count:]:
            raise ctx.unsupported(f"different activations per direction {names} are not supported")
        names = names[:count]
    if len(names) != count:
        raise ctx.unsupported(f"activations {names} should list {count} functions")
    if any(n not in ("sigmoid", "tanh", "relu") for n in names):
        raise ctx.unsupported(f"activations {names}: only sigmoid, tanh and relu are supported")
    if ctx.attr("activation_alpha") or ctx.attr("activation_beta"):
        raise ctx.unsupported("activation_alpha/activation_beta are not supported")
    return names


def split_gates(ctx, port, gates: int, axis: int):
    """Return ``port`` split into ``gates`` equal parts along ``axis`` (numpy when constant)."""
    value = port.constant_value()
    if value is not None:
        return [ctx.const(part) for part in np.split(value, gates, axis=axis)]
    node = ctx.make_node("Split", port, ctx.const(np.int64(axis)), num_splits=gates)
    return node.outputs


def concat(ctx, parts, axis: int):
    values = [p.constant_value() for p in parts]
    if all(v is not None for v in values):
        return ctx.const(np.concatenate(values, axis=axis))
    return ctx.make("Concat", *parts, axis=axis)


def reorder_lstm(ctx, port, axis: int):
    parts = split_gates(ctx, port, 4, axis)
    return concat(ctx, [parts[i] for i in LSTM_GATES_FROM_ONNX], axis)


def add(ctx, a, b):
    va, vb = a.constant_value(), b.constant_value()
    if va is not None and vb is not None:
        return ctx.const(va + vb)
    return ctx.make("Add", a, b)


def biases(ctx, kind: str, directions: int, hidden: int, dtype, linear_before_reset: bool):
    """Return the IR bias (num_directions, gates * hidden) (GRU linear_before_reset: 4 * hidden)."""
    gates = GATES[kind]
    bias = ctx.optional_input(3)
    if bias is None:
        width = 4 * hidden if linear_before_reset else gates * hidden
        return ctx.const(np.zeros((directions, width), dtype))
    input_bias, recurrent_bias = split_gates(ctx, bias, 2, 1)
    if kind == "GRU" and linear_before_reset:
        w_parts = split_gates(ctx, input_bias, 3, 1)
        r_parts = split_gates(ctx, recurrent_bias, 3, 1)
        return concat(ctx, [add(ctx, w_parts[0], r_parts[0]), add(ctx, w_parts[1], r_parts[1]), w_parts[2],
                            r_parts[2]], 1)
    total = add(ctx, input_bias, recurrent_bias)
    return reorder_lstm(ctx, total, 1) if kind == "LSTM" else total


def batch_filled(ctx, x_batch_first, value, tail: list[int], dtype):
    """Return a tensor (batch, *tail) of ``value``, batch taken from X (batch, seq, input)."""
    if x_batch_first.shape is not None and x_batch_first.shape[0] is not None:
        return ctx.const(np.full((x_batch_first.shape[0], *tail), value, dtype))
    shape = ctx.make("ShapeOf", x_batch_first, output_type=ElementType.i64)
    batch = ctx.make("Gather", shape, ctx.const([0], np.int64), ctx.const(np.int64(0)))
    target = ctx.make("Concat", batch, ctx.const(np.asarray(tail, np.int64)), axis=0)
    return ctx.make("Broadcast", ctx.const(np.asarray(value, dtype)), target, mode="numpy")


def full_lengths(ctx, x_batch_first):
    """Return sequence lengths (batch,) that all equal X's sequence length."""
    if x_batch_first.shape is not None and None not in x_batch_first.shape[:2]:
        return ctx.const(np.full(x_batch_first.shape[0], x_batch_first.shape[1], np.int32))
    shape = ctx.make("ShapeOf", x_batch_first, output_type=ElementType.i32)
    seq = ctx.make("Gather", shape, ctx.const(np.int64(1)), ctx.const(np.int64(0)))
    batch = ctx.make("Gather", shape, ctx.const([0], np.int64), ctx.const(np.int64(0)))
    return ctx.make("Broadcast", seq, batch, mode="numpy")


def state(ctx, index: int, x_batch_first, layout: int, directions: int, hidden: int, dtype):
    port = ctx.optional_input(index)
    if port is None:
        return batch_filled(ctx, x_batch_first, 0, [directions, hidden], dtype)
    return port if layout else ctx.make("Transpose", port, ctx.const([1, 0, 2], np.int64))


def convert_sequence(ctx, kind: str):
    x = ctx.input(0)
    w, r = ctx.input(1), ctx.input(2)
    direction = str(ctx.attr("direction", "forward")).lower()
    directions = 2 if direction == "bidirectional" else 1
    hidden = ctx.attr("hidden_size")
    if hidden is None:
        if r.shape is None or r.shape[-1] is None:
            raise ctx.unsupported("hidden_size is missing and R's shape is unknown")
        hidden = int(r.shape[-1])
    layout = int(ctx.attr("layout", 0))
    dtype = x.element_type.numpy
    names = activations(ctx, kind, directions)
    linear_before_reset = bool(ctx.attr("linear_before_reset", 0))
    if kind == "LSTM":
        if ctx.attr("input_forget", 0):
            raise ctx.unsupported("input_forget=1 (coupled input and forget gates) is not supported")
        peepholes = ctx.optional_input(7)
        if peepholes is not None:
            value = peepholes.constant_value()
            if value is None or np.any(value != 0):
                raise ctx.unsupported("peephole weights (input P) are not supported")
        w, r = reorder_lstm(ctx, w, 1), reorder_lstm(ctx, r, 1)
    xb = x if layout else ctx.make("Transpose", x, ctx.const([1, 0, 2], np.int64))
    lengths = ctx.optional_input(4)
    if lengths is None:
        lengths = full_lengths(ctx, xb)
    inputs = [xb, state(ctx, 5, xb, layout, directions, hidden, dtype)]
    if kind == "LSTM":
        inputs.append(state(ctx, 6, xb, layout, directions, hidden, dtype))
    inputs += [lengths, w, r, biases(ctx, kind, directions, hidden, dtype, linear_before_reset)]
    attrs = {"hidden_size": int(hidden), "activations": names, "clip": float(ctx.attr("clip", 0.0)),
             "direction": direction}
    if kind == "GRU":
        attrs["linear_before_reset"] = linear_before_reset
    node = ctx.make_node(f"{kind}Sequence", *inputs, **attrs)
    y = ctx.make("Transpose", node.output(0), ctx.const([0, 2, 1, 3] if layout else [2, 1, 0, 3], np.int64))
    outputs = [y]
    for k in range(1, len(node.outputs)):
        final = node.output(k)
        outputs.append(final if layout else ctx.make("Transpose", final, ctx.const([1, 0, 2], np.int64)))
    return outputs


@onnx_op("RNN", since=7)
def rnn(ctx):
    return convert_sequence(ctx, "RNN")


@onnx_op("GRU", since=7)
def gru(ctx):
    return convert_sequence(ctx, "GRU")


@onnx_op("LSTM", since=7)
def lstm(ctx):
    return convert_sequence(ctx, "LSTM")
