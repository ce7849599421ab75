"""ONNX arithmetic, variadic, comparison, logical and bitwise ops.

ONNX broadcasting before opset 7 (``broadcast``/``axis`` attributes) is not supported;
from opset 7 on, every binary op broadcasts numpy-style as the IR ops do.
"""

from __future__ import annotations

from kiln.frontends.onnx.registry import onnx_op

_BINARY = {
    "Add": "Add", "Sub": "Subtract", "Mul": "Multiply", "Pow": "Power",
    "Equal": "Equal", "Less": "Less", "LessOrEqual": "LessEqual", "Greater": "Greater",
    "GreaterOrEqual": "GreaterEqual", "And": "LogicalAnd", "Or": "LogicalOr", "Xor": "LogicalXor",
    "BitwiseAnd": "BitwiseAnd", "BitwiseOr": "BitwiseOr", "BitwiseXor": "BitwiseXor",
}


def _binary(ir_type: str):
    def convert(ctx):
        return ctx.make(ir_type, ctx.input(0), ctx.input(1))

    convert.__name__ = f"convert_{ir_type}"
    convert.__doc__ = f"Map the ONNX op onto the IR {ir_type}."
    return convert


for _onnx, _ir in _BINARY.items():
    onnx_op(_onnx, since=7)(_binary(_ir))


@onnx_op("Pow", since=12)
def pow_(ctx):
    """Raise input 0 to input 1; a differently typed exponent is converted to the base's type."""
    base, exponent = ctx.input(0), ctx.input(1)
    if exponent.element_type != base.element_type:
        exponent = ctx.make("Convert", exponent, destination_type=base.element_type)
    return ctx.make("Power", base, exponent)


@onnx_op("Div", since=7)
def div(ctx):
    """Divide; integer division truncates toward zero as ONNX (and C) define it."""
    return ctx.make("Divide", ctx.input(0), ctx.input(1), m_pythondiv=False)


@onnx_op("Mod", since=10)
def mod(ctx):
    """``fmod=0``: remainder with the divisor's sign (FloorMod); ``fmod=1``: C fmod (Mod)."""
    if ctx.attr("fmod", 0):
        return ctx.make("Mod", ctx.input(0), ctx.input(1))
    return ctx.make("FloorMod", ctx.input(0), ctx.input(1))


def _variadic(ir_type: str, ctx):
    inputs = [port for port in ctx.inputs if port is not None]
    if not inputs:
        raise ctx.unsupported("needs at least one input")
    result = inputs[0]
    for port in inputs[1:]:
        result = ctx.make(ir_type, result, port)
    return result


@onnx_op("Sum", since=6)
def sum_(ctx):
    return _variadic("Add", ctx)


@onnx_op("Max", since=6)
def max_(ctx):
    return _variadic("Maximum", ctx)


@onnx_op("Min", since=6)
def min_(ctx):
    return _variadic("Minimum", ctx)


@onnx_op("Mean", since=6)
def mean(ctx):
    total = _variadic("Add", ctx)
    count = sum(port is not None for port in ctx.inputs)
    if count == 1:
        return total
    return ctx.make("Divide", total, ctx.const(count, total.element_type.numpy))


@onnx_op("Not")
def not_(ctx):
    return ctx.make("LogicalNot", ctx.input(0))


@onnx_op("BitwiseNot", since=18)
def bitwise_not(ctx):
    return ctx.make("BitwiseNot", ctx.input(0))


@onnx_op("BitShift", since=11)
def bit_shift(ctx):
    """Shift unsigned integers LEFT or RIGHT by the bit counts in input 1."""
    direction = ctx.attr("direction")
    if direction not in ("LEFT", "RIGHT"):
        raise ctx.unsupported(f"direction {direction!r} is not LEFT or RIGHT")
    ir_type = "BitwiseLeftShift" if direction == "LEFT" else "BitwiseRightShift"
    return ctx.make(ir_type, ctx.input(0), ctx.input(1))
