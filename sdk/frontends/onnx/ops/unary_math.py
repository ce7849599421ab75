"""ONNX elementwise math: exp/log, trigonometry, rounding, sign, float classification."""

from __future__ import annotations

from kiln.frontends.onnx.registry import onnx_op

_UNARY = {
    "Abs": "Abs", "Neg": "Negative", "Sign": "Sign", "Floor": "Floor", "Ceil": "Ceiling",
    "Exp": "Exp", "Log": "Log", "Sqrt": "Sqrt", "Erf": "Erf", "Sin": "Sin", "Cos": "Cos", "Tan": "Tan",
    "Asin": "Asin", "Acos": "Acos", "Atan": "Atan", "Sinh": "Sinh", "Cosh": "Cosh", "Asinh": "Asinh",
    "Acosh": "Acosh", "Atanh": "Atanh", "IsNaN": "IsNaN",
}


def _unary(ir_type: str):
    def convert(ctx):
        return ctx.make(ir_type, ctx.input(0))

    convert.__name__ = f"convert_{ir_type}"
    convert.__doc__ = f"Map the ONNX op onto the IR {ir_type}."
    return convert


for _onnx, _ir in _UNARY.items():
    onnx_op(_onnx)(_unary(_ir))


@onnx_op("Round", since=11)
def round_(ctx):
    """Round half to even."""
    return ctx.make("Round", ctx.input(0), mode="half_to_even")


@onnx_op("Reciprocal")
def reciprocal(ctx):
    x = ctx.input(0)
    return ctx.make("Divide", ctx.const(1, x.element_type.numpy), x)


@onnx_op("IsInf", since=10)
def is_inf(ctx):
    return ctx.make("IsInf", ctx.input(0), detect_negative=bool(ctx.attr("detect_negative", 1)),
                    detect_positive=bool(ctx.attr("detect_positive", 1)))
