"""IR test models for quantization and HETERO: a residual CNN and a transformer encoder layer."""

from __future__ import annotations

import numpy as np
from kiln.ir import ElementType, Model, Output, constant, make, parameter


def _conv(x: Output, rng, cin: int, cout: int, name: str, stride: int = 1, groups: int = 1,
          relu: bool = True) -> Output:
    if groups == 1:
        w = (rng.standard_normal((cout, cin, 3, 3)) * np.sqrt(2.0 / (9 * cin))).astype(np.float32)
        y = make("Convolution", x, constant(w, name=f"{name}.w"), strides=[stride, stride],
                 pads_begin=[1, 1], pads_end=[1, 1], dilations=[1, 1], name=name).output(0)
    else:
        w = (rng.standard_normal((groups, cout // groups, cin // groups, 3, 3)) * 0.4).astype(np.float32)
        y = make("GroupConvolution", x, constant(w, name=f"{name}.w"), strides=[stride, stride],
                 pads_begin=[1, 1], pads_end=[1, 1], dilations=[1, 1], name=name).output(0)
    b = (rng.standard_normal((1, cout, 1, 1)) * 0.1).astype(np.float32)
    y = make("Add", y, constant(b, name=f"{name}.b"), name=f"{name}/bias").output(0)
    return make("Relu", y, name=f"{name}/relu").output(0) if relu else y


def residual_cnn(seed: int = 0, batch: int | None = 1) -> Model:
    """Return a small residual CNN: strided, depthwise and pointwise convs, pooling, a classifier."""
    rng = np.random.default_rng(seed)
    x = parameter("input", ElementType.f32, (batch, 3, 16, 16))
    y = _conv(x.output(0), rng, 3, 16, "stem")
    y = _conv(y, rng, 16, 32, "down", stride=2)                       # 8x8
    skip = y
    y = _conv(y, rng, 32, 32, "dw", groups=32)
    y = _conv(y, rng, 32, 32, "pw", relu=False)
    y = make("Add", y, skip, name="residual").output(0)
    y = make("Relu", y, name="residual/relu").output(0)
    y = make("MaxPool", y, kernel=[2, 2], strides=[2, 2], pads_begin=[0, 0], pads_end=[0, 0],
             name="pool").outputs[0]                                  # 4x4
    y = make("AvgPool", y, kernel=[4, 4], strides=[4, 4], pads_begin=[0, 0], pads_end=[0, 0],
             **{"exclude-pad": True}, name="gap").output(0)           # 1x1
    y = make("Reshape", y, constant(np.array([-1, 32], np.int64)), special_zero=False,
             name="flatten").output(0)
    w = (rng.standard_normal((10, 32)) * np.sqrt(1.0 / 32)).astype(np.float32)
    y = make("MatMul", y, constant(w, name="fc.w"), transpose_b=True, name="fc").output(0)
    y = make("Add", y, constant((rng.standard_normal(10) * 0.1).astype(np.float32)), name="fc/bias").output(0)
    y.names.add("logits")
    return Model([y], [x], name="residual_cnn")


def transformer_layer(seed: int = 0, tokens: int = 16, width: int = 32, heads: int = 4) -> Model:
    """Return one post-norm transformer encoder layer on ``[1, tokens, width]``."""
    rng = np.random.default_rng(seed)
    head = width // heads
    x = parameter("input", ElementType.f32, (1, tokens, width))
    h = x.output(0)

    def linear(t: Output, cin: int, cout: int, name: str) -> Output:
        w = (rng.standard_normal((cin, cout)) / np.sqrt(cin)).astype(np.float32)
        t = make("MatMul", t, constant(w, name=f"{name}.w"), name=name).output(0)
        b = (rng.standard_normal(cout) * 0.05).astype(np.float32)
        return make("Add", t, constant(b, name=f"{name}.b"), name=f"{name}/bias").output(0)

    def split_heads(t: Output, name: str) -> Output:
        t = make("Reshape", t, constant(np.array([1, tokens, heads, head], np.int64)), special_zero=False,
                 name=f"{name}/reshape").output(0)
        return make("Transpose", t, constant(np.array([0, 2, 1, 3], np.int64)),
                    name=f"{name}/transpose").output(0)

    def layer_norm(t: Output, name: str) -> Output:
        t = make("MVN", t, constant(np.array([-1], np.int64)), normalize_variance=True, eps=1e-5,
                 eps_mode="inside_sqrt", name=name).output(0)
        g = (1 + 0.1 * rng.standard_normal(width)).astype(np.float32)
        t = make("Multiply", t, constant(g), name=f"{name}/gamma").output(0)
        return make("Add", t, constant(0.1 * rng.standard_normal(width).astype(np.float32)),
                    name=f"{name}/beta").output(0)

    q = split_heads(linear(h, width, width, "q"), "q")
    k = split_heads(linear(h, width, width, "k"), "k")
    v = split_heads(linear(h, width, width, "v"), "v")
    s = make("MatMul", q, k, transpose_b=True, name="scores").output(0)
    s = make("Multiply", s, constant(np.array(1 / np.sqrt(head), np.float32)), name="scale").output(0)
    p = make("Softmax", s, axis=-1, name="softmax").output(0)
    a = make("MatMul", p, v, name="context").output(0)
    a = make("Transpose", a, constant(np.array([0, 2, 1, 3], np.int64)), name="merge/transpose").output(0)
    a = make("Reshape", a, constant(np.array([1, tokens, width], np.int64)), special_zero=False,
             name="merge/reshape").output(0)
    a = linear(a, width, width, "attn_out")
    h = layer_norm(make("Add", h, a, name="attn_residual").output(0), "ln1")
    f = linear(h, width, 4 * width, "ffn1")
    f = make("Relu", f, name="ffn1/relu").output(0)
    f = linear(f, 4 * width, width, "ffn2")
    h = layer_norm(make("Add", h, f, name="ffn_residual").output(0), "ln2")
    h.names.add("output")
    return Model([h], [x], name="transformer_layer")


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def samples(model: Model, count: int, seed: int = 0) -> list[dict[str, np.ndarray]]:
    """Return ``count`` random normal input dicts for the model's one input (dynamic dims -> 1)."""
    rng = np.random.default_rng(seed)
    shape = [1 if d is None else d for d in model.parameters[0].attrs["shape"]]
    return [{"input": rng.standard_normal(shape).astype(np.float32)} for _ in range(count)]
