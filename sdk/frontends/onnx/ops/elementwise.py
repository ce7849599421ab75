"""ONNX elementwise ops."""

from kiln.frontends.onnx.registry import onnx_op


@onnx_op("Add", since=7)
def add(ctx):
    return ctx.make("Add", ctx.input(0), ctx.input(1))


@onnx_op("Mul", since=7)
def mul(ctx):
    return ctx.make("Multiply", ctx.input(0), ctx.input(1))


@onnx_op("Relu")
def relu(ctx):
    return ctx.make("Relu", ctx.input(0))
