"""BERT/MiniLM-style transformer encoders (post-LayerNorm, GELU), built in code with seeded weights.

The defaults are MiniLM-L6-H384's geometry (6 layers, hidden 384, 12 heads,
intermediate 1536, WordPiece vocabulary of 30522). :func:`encoder_graph` can take
real weights (a dict in Hugging Face BERT naming), which :mod:`kiln.zoo.minilm` uses.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
from kiln.zoo.onnx_graph import OnnxGraph

Weights = Callable[[str, tuple[int, ...]], np.ndarray]


def _seeded(g: OnnxGraph) -> Weights:
    def weight(name: str, shape: tuple[int, ...]) -> np.ndarray:
        if name.endswith("LayerNorm.weight"):
            return (1.0 + 0.05 * g.rng.standard_normal(shape)).astype(np.float32)
        if name.endswith(".bias"):
            return (0.02 * g.rng.standard_normal(shape)).astype(np.float32)
        return (0.05 * g.rng.standard_normal(shape)).astype(np.float32)
    return weight


def _linear(g: OnnxGraph, w: Weights, x: str, prefix: str, d_in: int, d_out: int) -> str:
    # Hugging Face stores Linear weights as [out, in]; the graph multiplies by the transpose
    weight = np.ascontiguousarray(w(f"{prefix}.weight", (d_out, d_in)).T)
    y = g.op("MatMul", [x, g.const(weight, "w")])
    return g.op("Add", [y, g.const(w(f"{prefix}.bias", (d_out,)), "b")])


def _layer_norm(g: OnnxGraph, w: Weights, x: str, prefix: str, hidden: int, eps: float) -> str:
    return g.op("LayerNormalization", [x, g.const(w(f"{prefix}.weight", (hidden,)), "ln_w"),
                                       g.const(w(f"{prefix}.bias", (hidden,)), "ln_b")],
                axis=-1, epsilon=eps)


def _gelu(g: OnnxGraph, x: str) -> str:
    scaled = g.op("Div", [x, g.const(np.float32(np.sqrt(2.0)), "sqrt2")])
    erf = g.op("Erf", [scaled])
    one = g.op("Add", [erf, g.const(np.float32(1.0), "one")])
    return g.op("Mul", [g.op("Mul", [x, one]), g.const(np.float32(0.5), "half")])


def encoder_layer(g: OnnxGraph, w: Weights, x: str, prefix: str, batch: int, seq: int, hidden: int,
                  heads: int, intermediate: int, eps: float = 1e-12) -> str:
    """Add one post-LN encoder layer (self-attention, then a GELU feed-forward) on ``x`` [B, S, H]."""
    dh = hidden // heads
    split = g.const(np.array([batch, seq, heads, dh], np.int64), "split_heads")

    def heads_of(name: str, perm: list[int]) -> str:
        y = _linear(g, w, x, f"{prefix}.attention.self.{name}", hidden, hidden)
        return g.op("Transpose", [g.op("Reshape", [y, split])], perm=perm)

    q = heads_of("query", [0, 2, 1, 3])
    k = heads_of("key", [0, 2, 3, 1])
    v = heads_of("value", [0, 2, 1, 3])
    scores = g.op("Mul", [g.op("MatMul", [q, k]), g.const(np.float32(1.0 / np.sqrt(dh)), "scale")])
    probs = g.op("Softmax", [scores], axis=-1)
    context = g.op("Transpose", [g.op("MatMul", [probs, v])], perm=[0, 2, 1, 3])
    context = g.op("Reshape", [context, g.const(np.array([batch, seq, hidden], np.int64), "merge")])
    attn = _linear(g, w, context, f"{prefix}.attention.output.dense", hidden, hidden)
    x = _layer_norm(g, w, g.op("Add", [attn, x]), f"{prefix}.attention.output.LayerNorm", hidden, eps)
    ff = _gelu(g, _linear(g, w, x, f"{prefix}.intermediate.dense", hidden, intermediate))
    ff = _linear(g, w, ff, f"{prefix}.output.dense", intermediate, hidden)
    return _layer_norm(g, w, g.op("Add", [ff, x]), f"{prefix}.output.LayerNorm", hidden, eps)


def encoder_graph(name: str, batch: int, seq: int, layers: int, hidden: int, heads: int,
                  intermediate: int, vocab: int, max_positions: int = 512, weights: Weights | None = None,
                  seed: int = 0, eps: float = 1e-12) -> onnx.ModelProto:
    """Return a BERT encoder: ``input_ids`` i64 [B, S] -> ``last_hidden_state`` f32 [B, S, H]."""
    if hidden % heads:
        raise ValueError(f"hidden size {hidden} is not a multiple of {heads} heads")
    g = OnnxGraph(name, seed)
    w = weights or _seeded(g)
    ids = g.input("input_ids", [batch, seq], onnx.TensorProto.INT64)
    words = g.op("Gather", [g.const(w("embeddings.word_embeddings.weight", (vocab, hidden)), "words"), ids],
                 axis=0)
    positions = w("embeddings.position_embeddings.weight", (max_positions, hidden))[:seq]
    types = w("embeddings.token_type_embeddings.weight", (2, hidden))[0]
    x = g.op("Add", [words, g.const((positions + types)[None].astype(np.float32), "positions")])
    x = _layer_norm(g, w, x, "embeddings.LayerNorm", hidden, eps)
    for i in range(layers):
        x = encoder_layer(g, w, x, f"encoder.layer.{i}", batch, seq, hidden, heads, intermediate, eps)
    g.nodes.append(onnx.helper.make_node("Identity", [x], ["last_hidden_state"], name="last_hidden_state"))
    g.output("last_hidden_state", [batch, seq, hidden])
    return g.model()


def minilm_encoder(batch: int = 1, seq: int = 128, seed: int = 0) -> onnx.ModelProto:
    """Return a MiniLM-L6-H384-shaped encoder with seeded weights."""
    return encoder_graph("minilm_l6_h384", batch, seq, layers=6, hidden=384, heads=12, intermediate=1536,
                         vocab=30522, seed=seed)


def transformer_layer(batch: int = 1, seq: int = 128, hidden: int = 384, heads: int = 12,
                      intermediate: int = 1536, seed: int = 0) -> onnx.ModelProto:
    """Return one encoder layer: ``hidden_states`` f32 [B, S, H] -> ``output`` [B, S, H]."""
    g = OnnxGraph("transformer_layer", seed)
    x = g.input("hidden_states", [batch, seq, hidden])
    y = encoder_layer(g, _seeded(g), x, "layer", batch, seq, hidden, heads, intermediate)
    g.nodes.append(onnx.helper.make_node("Identity", [y], ["output"], name="output"))
    g.output("output", [batch, seq, hidden])
    return g.model()
