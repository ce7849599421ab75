"""Recurrent sequences (opset5): RNNSequence, GRUSequence and LSTMSequence.

Layouts follow OpenVINO: X is (batch, seq_len, input_size); states are (batch, num_directions,
hidden_size); W is (num_directions, gates * hidden_size, input_size), R is (num_directions,
gates * hidden_size, hidden_size), B is (num_directions, gates * hidden_size). Gate order:
LSTM ``f, i, c, o``; GRU ``z, r, h``. Y is (batch, num_directions, seq_len, hidden_size).

``activations`` (sigmoid, tanh, relu) apply to every direction; ``clip`` > 0 clips gate
pre-activations to [-clip, clip]. Steps at or past a batch entry's ``sequence_lengths``
leave its state unchanged and write 0 to Y; the reverse direction runs each entry backwards
from its own last valid step. The reference loops over time steps only, vectorised over
batch and hidden units.
"""

from __future__ import annotations

import numpy as np
from kiln.errors import ShapeInferenceError, UnsupportedOpError
from kiln.ir.op import Attr, AttrKind, Op

ACTIVATIONS = {
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "tanh": np.tanh,
    "relu": lambda x: np.maximum(x, 0),
}


def activation(node, name: str):
    try:
        return ACTIVATIONS[name.lower()]
    except KeyError:
        raise UnsupportedOpError(f"node {node.name!r} ({node.type_name}): activation {name!r} is not "
                                 f"one of {sorted(ACTIVATIONS)}") from None


class SequenceBase(Op):
    """Shared attributes, shape inference and time loop of the recurrent sequences."""

    version = "opset5"
    gates = 1
    states = 1
    default_activations: list[str] = []
    attributes = {
        "hidden_size": Attr(AttrKind.INT),
        "activations": Attr(AttrKind.STRS),
        "activations_alpha": Attr(AttrKind.FLOATS, []),
        "activations_beta": Attr(AttrKind.FLOATS, []),
        "clip": Attr(AttrKind.FLOAT, 0.0),
        "direction": Attr(AttrKind.STR),
    }

    @classmethod
    def directions(cls, node) -> int:
        direction = str(node.attrs["direction"]).lower()
        if direction not in ("forward", "reverse", "bidirectional"):
            raise UnsupportedOpError(
                f"node {node.name!r} ({cls.type_name}): direction {direction!r} is not forward, reverse or "
                "bidirectional")
        return 2 if direction == "bidirectional" else 1

    @classmethod
    def infer(cls, node):
        x = node.inputs[0]
        hidden = int(node.attrs["hidden_size"])
        directions = cls.directions(node)
        if not node.attrs["activations"]:
            node.attrs["activations"] = list(cls.default_activations)
        for name in node.attrs["activations"]:
            activation(node, name)
        w = node.inputs[2 + cls.states]
        if w.shape is not None and (len(w.shape) != 3 or w.shape[1] not in (None, cls.gates * hidden)
                                    or w.shape[0] not in (None, directions)):
            raise ShapeInferenceError(
                f"node {node.name!r} ({cls.type_name}): W should be ({directions}, {cls.gates * hidden}, "
                f"input_size), got {node.describe_inputs()}")
        if x.shape is None:
            batch = seq = None
        else:
            if len(x.shape) != 3:
                raise ShapeInferenceError(
                    f"node {node.name!r} ({cls.type_name}): X must be (batch, seq_len, input_size), got "
                    f"{node.describe_inputs()}")
            batch, seq = x.shape[0], x.shape[1]
        state = (x.element_type, (batch, directions, hidden))
        return [(x.element_type, (batch, directions, seq, hidden))] + [state] * cls.states

    @classmethod
    def evaluate(cls, node, inputs):
        x = inputs[0]
        dt = np.float64 if x.dtype == np.float64 else np.float32
        states = [s.astype(dt) for s in inputs[1:1 + cls.states]]
        lengths = inputs[1 + cls.states].astype(np.int64).reshape(-1)
        w, r, b = (a.astype(dt) for a in inputs[2 + cls.states:5 + cls.states])
        directions = cls.directions(node)
        batch, seq, _ = x.shape
        if lengths.size == 1 and batch != 1:
            lengths = np.full(batch, lengths[0])
        funcs = [activation(node, n) for n in node.attrs["activations"] or cls.default_activations]
        ys, finals = [], [[] for _ in range(cls.states)]
        direction = str(node.attrs["direction"]).lower()
        for d in range(directions):
            reverse = direction == "reverse" or d == 1
            order = step_order(lengths, seq, reverse)
            xs = np.take_along_axis(x.astype(dt), order[:, :, None], axis=1)
            carry = [s[:, d] for s in states]
            out = np.zeros((batch, seq, w.shape[1] // cls.gates), dt)
            for t in range(seq):
                active = (t < lengths)[:, None]
                new = cls.cell(node, xs[:, t], carry, w[d], r[d], b[d], funcs)
                carry = [np.where(active, n, c) for n, c in zip(new, carry)]
                out[:, t] = np.where(active, carry[0], 0)
            ys.append(np.take_along_axis(out, np.argsort(order, axis=1)[:, :, None], axis=1))
            for k in range(cls.states):
                finals[k].append(carry[k])
        y = np.stack(ys, axis=1).astype(x.dtype)
        return [y] + [np.stack(f, axis=1).astype(x.dtype) for f in finals]

    @classmethod
    def clipped(cls, node, gates):
        limit = float(node.attrs["clip"])
        return np.clip(gates, -limit, limit) if limit > 0 else gates


def step_order(lengths: np.ndarray, seq: int, reverse: bool) -> np.ndarray:
    """Return (batch, seq) time indices to visit: 0..seq-1, or each entry's valid steps reversed."""
    steps = np.broadcast_to(np.arange(seq), (lengths.size, seq))
    if not reverse:
        return np.ascontiguousarray(steps)
    limit = np.minimum(lengths, seq)[:, None]
    return np.where(steps < limit, limit - 1 - steps, steps)


class RNNSequence(SequenceBase):
    """``H = f(X W^T + H R^T + B)``; inputs X, H0, sequence_lengths, W, R, B."""

    type_name = "RNNSequence"
    default_activations = ["tanh"]
    num_inputs = (6, 6)

    @classmethod
    def cell(cls, node, x, carry, w, r, b, funcs):
        (h,) = carry
        return [funcs[0](cls.clipped(node, x @ w.T + h @ r.T + b))]


class GRUSequence(SequenceBase):
    """GRU with gates z, r, h; ``linear_before_reset`` applies r after the recurrent product
    (then B holds 4 * hidden: z, r, h input bias and h recurrent bias). Inputs X, H0,
    sequence_lengths, W, R, B."""

    type_name = "GRUSequence"
    gates = 3
    default_activations = ["sigmoid", "tanh"]
    attributes = {**SequenceBase.attributes, "linear_before_reset": Attr(AttrKind.BOOL, False)}
    num_inputs = (6, 6)

    @classmethod
    def cell(cls, node, x, carry, w, r, b, funcs):
        (h,) = carry
        size = h.shape[1]
        f, g = funcs[0], funcs[1]
        wx = x @ w.T
        rz, rr, rh = (r[i * size:(i + 1) * size] for i in range(3))
        bz, br, bh = b[:size], b[size:2 * size], b[2 * size:3 * size]
        z = f(cls.clipped(node, wx[:, :size] + h @ rz.T + bz))
        reset = f(cls.clipped(node, wx[:, size:2 * size] + h @ rr.T + br))
        if node.attrs["linear_before_reset"]:
            recurrent_bias = b[3 * size:4 * size] if b.shape[0] == 4 * size else 0
            candidate = g(cls.clipped(node, wx[:, 2 * size:] + reset * (h @ rh.T + recurrent_bias) + bh))
        else:
            candidate = g(cls.clipped(node, wx[:, 2 * size:] + (reset * h) @ rh.T + bh))
        return [(1 - z) * candidate + z * h]


class LSTMSequence(SequenceBase):
    """LSTM with gates f, i, c, o and no peepholes; inputs X, H0, C0, sequence_lengths, W, R, B."""

    type_name = "LSTMSequence"
    gates = 4
    states = 2
    default_activations = ["sigmoid", "tanh", "tanh"]
    num_inputs = (7, 7)

    @classmethod
    def cell(cls, node, x, carry, w, r, b, funcs):
        h, c = carry
        size = h.shape[1]
        f, g, act = funcs[0], funcs[1], funcs[2]
        gates = cls.clipped(node, x @ w.T + h @ r.T + b)
        forget, inp, cand, out = (gates[:, i * size:(i + 1) * size] for i in range(4))
        c_new = f(forget) * c + f(inp) * g(cand)
        return [f(out) * act(c_new), c_new]
