"""Small IR models and a compile helper for the GPU tests (shapes kept tiny for the CUDA simulator)."""

from __future__ import annotations

import numpy as np
from kiln import Core
from kiln.ir import ElementType, Model, Output, constant, evaluate, make, parameter

TILE = 4
"""GEMM tile of most tests: 16 threads per block keeps the simulator fast; one test uses the default."""


def compile_gpu(model: Model, **config):
    """Compile ``model`` on the GPU with a small GEMM tile (unless ``config`` says otherwise)."""
    return Core().compile_model(model, "GPU", {"GPU_TILE": TILE, **config})


def check(model: Model, inputs: list[np.ndarray], rtol: float = 1e-4, atol: float = 1e-5, **config):
    """Run ``model`` on the GPU and assert it matches the numpy reference; return the compiled model."""
    compiled = compile_gpu(model, **config)
    got = compiled(inputs)
    want = evaluate(model, inputs)
    for i, expected in enumerate(want):
        np.testing.assert_allclose(got[i], expected, rtol=rtol, atol=atol)
        assert got[i].dtype == expected.dtype
    return compiled


def single(op: str, shapes: list[tuple[int, ...]], *extra: Output, **attrs) -> Model:
    """Return a model of one ``op`` node over f32 parameters of ``shapes`` (then constant ``extra``)."""
    params = [parameter(f"x{i}", ElementType.f32, s) for i, s in enumerate(shapes)]
    node = make(op, *[p.output(0) for p in params], *extra, name=op.lower(), **attrs)
    return Model([node.output(0)], params, name=op)


def tiny_cnn(seed: int = 0, batch: int = 1, reverse_classes: bool = False) -> Model:
    """Return a residual CNN on [batch, 2, 6, 6]: conv, depthwise, pointwise + residual, pools, fc.

    With ``reverse_classes`` the class probabilities are reversed by a Gather (an op with
    no GPU kernel) at the end.
    """
    rng = np.random.default_rng(seed)
    x = parameter("input", ElementType.f32, (batch, 2, 6, 6))

    def conv(t, cin, cout, name, groups=1, k=3, relu=True):
        if groups == 1:
            w = rng.standard_normal((cout, cin, k, k)).astype(np.float32) * 0.4
            t = make("Convolution", t, constant(w), strides=[1, 1], pads_begin=[k // 2] * 2,
                     pads_end=[k // 2] * 2, dilations=[1, 1], name=name).output(0)
        else:
            w = rng.standard_normal((groups, cout // groups, cin // groups, k, k)).astype(np.float32) * 0.4
            t = make("GroupConvolution", t, constant(w), strides=[1, 1], pads_begin=[1, 1],
                     pads_end=[1, 1], dilations=[1, 1], name=name).output(0)
        b = rng.standard_normal((1, cout, 1, 1)).astype(np.float32) * 0.1
        t = make("Add", t, constant(b), name=f"{name}/bias").output(0)
        return make("Relu", t, name=f"{name}/relu").output(0) if relu else t

    y = conv(x.output(0), 2, 4, "stem")
    skip = y
    y = conv(y, 4, 4, "dw", groups=4)
    y = conv(y, 4, 4, "pw", k=1, relu=False)
    y = make("Add", y, skip, name="residual").output(0)
    y = make("Relu", y, name="residual/relu").output(0)
    y = make("MaxPool", y, kernel=[2, 2], strides=[2, 2], pads_begin=[0, 0], pads_end=[0, 0],
             name="pool").outputs[0]
    y = make("AvgPool", y, kernel=[3, 3], strides=[3, 3], pads_begin=[0, 0], pads_end=[0, 0],
             **{"exclude-pad": True}, name="gap").output(0)
    y = make("Reshape", y, constant(np.array([-1, 4], np.int64)), special_zero=False,
             name="flatten").output(0)
    w = rng.standard_normal((3, 4)).astype(np.float32)
    y = make("MatMul", y, constant(w), transpose_b=True, name="fc").output(0)
    y = make("Add", y, constant(rng.standard_normal(3).astype(np.float32)), name="fc/bias").output(0)
    y = make("Softmax", y, axis=-1, name="prob").output(0)
    if reverse_classes:
        order = constant(np.array([2, 1, 0], np.int64))
        y = make("Gather", y, order, constant(np.array(1, np.int64)), batch_dims=0, name="reverse").output(0)
    y.names.add("prob")
    return Model([y], [x], name="tiny_cnn")


def tiny_transformer(seed: int = 0, tokens: int = 4, width: int = 8, heads: int = 2,
                     reverse_tokens: bool = False) -> Model:
    """Return one attention + MLP block on [1, tokens, width] (head split/merge by Transpose).

    With ``reverse_tokens`` the input's tokens are first reversed by a Gather (an op with
    no GPU kernel).
    """
    rng = np.random.default_rng(seed)
    head = width // heads
    x = parameter("input", ElementType.f32, (1, tokens, width))

    def linear(t, cin, cout, name):
        w = (rng.standard_normal((cin, cout)) / np.sqrt(cin)).astype(np.float32)
        t = make("MatMul", t, constant(w), name=name).output(0)
        return make("Add", t, constant(rng.standard_normal(cout).astype(np.float32) * 0.1),
                    name=f"{name}/bias").output(0)

    def heads_of(t, name):
        t = make("Reshape", t, constant(np.array([1, tokens, heads, head], np.int64)), special_zero=False,
                 name=f"{name}/split").output(0)
        return make("Transpose", t, constant(np.array([0, 2, 1, 3], np.int64)), name=f"{name}/t").output(0)

    h = x.output(0)
    if reverse_tokens:
        order = constant(np.arange(tokens)[::-1].astype(np.int64))
        h = make("Gather", h, order, constant(np.array(1, np.int64)), batch_dims=0, name="reverse").output(0)
    q, k, v = (heads_of(linear(h, width, width, n), n) for n in "qkv")
    s = make("MatMul", q, k, transpose_b=True, name="scores").output(0)
    s = make("Multiply", s, constant(np.array(1 / np.sqrt(head), np.float32)), name="scale").output(0)
    p = make("Softmax", s, axis=-1, name="softmax").output(0)
    a = make("MatMul", p, v, name="context").output(0)
    a = make("Transpose", a, constant(np.array([0, 2, 1, 3], np.int64)), name="merge").output(0)
    a = make("Reshape", a, constant(np.array([1, tokens, width], np.int64)), special_zero=False,
             name="merge/reshape").output(0)
    h = make("Add", h, linear(a, width, width, "proj"), name="residual").output(0)
    h = make("MVN", h, constant(np.array([-1], np.int64)), normalize_variance=True, eps=1e-5,
             eps_mode="inside_sqrt", name="ln").output(0)
    f = make("Gelu", linear(h, width, 2 * width, "ffn1"), name="ffn1/gelu").output(0)
    h = make("Add", h, linear(f, 2 * width, width, "ffn2"), name="ffn_residual").output(0)
    h.names.add("output")
    return Model([h], [x], name="tiny_transformer")
