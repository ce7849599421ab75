"""Elementwise chains: the device-neutral form of fused elementwise work.

A :class:`Chain` is a straight-line program over tensors of one output shape:
operands (runtime tensors or constants, numpy-broadcast into the output shape)
and a list of :class:`ChainOp` that each read earlier values and produce one.
An argument ``a >= 0`` names operand ``a``; ``a < 0`` names the result of op
``~a`` (op 0 is -1, op 1 is -2, ...); the last op's result is the chain's
result. Devices turn a chain into one kernel (the CPU driver into one numba loop).

:data:`ELEMENTWISE` maps IR op types to the chain op they become; an IR node
whose op is not there (or whose attributes are not understood) is never fused.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
from kiln.ir import Node, Output

UNARY = {"relu", "sigmoid", "tanh", "exp", "log", "sqrt", "abs", "neg", "erf", "floor", "ceil",
         "clamp", "elu", "gelu_erf", "gelu_tanh", "swish", "hswish", "hsigmoid", "softplus", "mish"}
BINARY = {"add", "sub", "mul", "div", "max", "min", "pow", "sqdiff", "prelu"}


@dataclasses.dataclass(frozen=True)
class ChainOp:
    """One elementwise operation: ``name`` applied to values ``args`` with float ``params``."""

    name: str
    args: tuple[int, ...]
    params: tuple[float, ...] = ()


@dataclasses.dataclass
class Chain:
    """A fused elementwise program; ``operands`` hold ``Output`` ports or constant arrays."""

    operands: list[Output | np.ndarray]
    ops: list[ChainOp]
    shape: tuple[int, ...]

    @property
    def result(self) -> int:
        """The reference to the chain's result: its last op (operand 0 when there is no op)."""
        return ~(len(self.ops) - 1) if self.ops else 0


PREV = -(1 << 30)
"""In ops returned by a lowering: the result of the op just before it in the same list."""


Lowering = Callable[["LowerContext"], "list[ChainOp] | None"]


@dataclasses.dataclass
class LowerContext:
    """What a lowering sees: the node, a reference to each input, constant inputs' values."""

    node: Node
    args: list[int]
    consts: list[np.ndarray | None]
    add_const: Callable[[np.ndarray], int]
    """Append a constant operand (already broadcastable to the output) and return its reference."""


def _unary(name: str, params: Callable[[Node], tuple[float, ...]] | None = None) -> Lowering:
    def lower(ctx: LowerContext):
        if len(ctx.args) != 1:
            return None
        return [ChainOp(name, (ctx.args[0],), params(ctx.node) if params else ())]
    return lower


def _binary(name: str) -> Lowering:
    def lower(ctx: LowerContext):
        if str(ctx.node.attrs.get("auto_broadcast", "numpy")).lower() not in ("numpy", "none"):
            return None
        return [ChainOp(name, (ctx.args[0], ctx.args[1]))]
    return lower


def _prelu(ctx: LowerContext):
    """PRelu's 1-D slope of C values runs along axis 1 (not numpy's last axis): fuse other forms only."""
    x, slope = ctx.node.inputs
    if slope.shape is None or x.shape is None:
        return None
    if len(slope.shape) == 1 and len(x.shape) >= 2 and slope.shape[0] != 1:
        return None
    return [ChainOp("prelu", (ctx.args[0], ctx.args[1]))]


def _gelu(ctx: LowerContext):
    mode = str(ctx.node.attrs.get("approximation_mode", "ERF")).upper()
    if mode not in ("ERF", "TANH"):
        return None
    return [ChainOp("gelu_erf" if mode == "ERF" else "gelu_tanh", (ctx.args[0],))]


def _swish(ctx: LowerContext):
    return [ChainOp("swish", (ctx.args[0],))] if len(ctx.args) == 1 else None


def _elu(ctx: LowerContext):
    return [ChainOp("elu", (ctx.args[0],), (float(ctx.node.attrs["alpha"]),))]


def _batch_norm(ctx: LowerContext):
    """Lower BatchNormInference with constant statistics to a per-channel multiply-add."""
    node = ctx.node
    out_shape = node.output_types[0][1]
    data = [i for i, p in enumerate(node.inputs) if p.shape == out_shape and ctx.consts[i] is None]
    if len(data) != 1 or out_shape is None or len(out_shape) < 2:
        return None
    rest = [ctx.consts[i] for i in range(len(node.inputs)) if i != data[0]]
    if any(v is None for v in rest) or len(rest) != 4:
        return None
    gamma, beta, mean, var = (np.asarray(v, np.float64) for v in rest)
    scale = gamma / np.sqrt(var + float(node.attrs.get("epsilon", 1e-5)))
    shift = beta - mean * scale
    bshape = (1, -1) + (1,) * (len(out_shape) - 2)
    s = ctx.add_const(scale.astype(np.float32).reshape(bshape))
    t = ctx.add_const(shift.astype(np.float32).reshape(bshape))
    x = ctx.args[data[0]]
    return [ChainOp("mul", (x, s)), ChainOp("add", (PREV, t))]


ELEMENTWISE: dict[str, Lowering] = {
    "Add": _binary("add"), "Subtract": _binary("sub"), "Multiply": _binary("mul"),
    "Divide": _binary("div"), "Maximum": _binary("max"), "Minimum": _binary("min"),
    "Power": _binary("pow"), "SquaredDifference": _binary("sqdiff"), "PRelu": _prelu,
    "Relu": _unary("relu"), "Sigmoid": _unary("sigmoid"), "Tanh": _unary("tanh"),
    "Exp": _unary("exp"), "Log": _unary("log"), "Sqrt": _unary("sqrt"), "Abs": _unary("abs"),
    "Negative": _unary("neg"), "Erf": _unary("erf"), "Floor": _unary("floor"),
    "Ceiling": _unary("ceil"), "HSwish": _unary("hswish"), "HSigmoid": _unary("hsigmoid"),
    "SoftPlus": _unary("softplus"), "Mish": _unary("mish"),
    "Clamp": _unary("clamp", lambda n: (float(n.attrs["min"]), float(n.attrs["max"]))),
    "Elu": _elu, "Gelu": _gelu, "Swish": _swish, "BatchNormInference": _batch_norm,
}
"""IR op type -> lowering into chain ops; ``None`` when this node's form is not fusible."""

