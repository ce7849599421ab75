"""Accuracy of kiln.quantize: digits CNN top-1 and test-model cosine, fp32 vs int8 on CPU and VPU.

Run: ``.venv/bin/python benchmarks/quantization_accuracy.py`` (about 3 minutes on 2 cores).

Rows: the digits CNN (sdk/zoo/data/digits_cnn.onnx) top-1 on its 360-image held-out split,
calibrated on 32 training images; the residual CNN and transformer layer of
tests/sdk/quantization/quant_onnx_models.py as cosine similarity against fp32 onnxruntime
(8 random calibration inputs, 4 random test inputs). "CPU" runs the quantized IR in float
(fake-quant); "HETERO:VPU,CPU" runs its int8 layers on the VPU's bit-exact ISA simulator.
Where the optional pretrained all-MiniLM-L6-v2 is installed, its sentence embeddings
(24 tokens, 4 calibration and 4 test sentences) are compared with Kiln's fp32 CPU run.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "sdk" / "quantization"))


def cosine(a, b) -> float:
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def digits_rows(core, devices):
    import kiln
    from sklearn.datasets import load_digits

    meta = json.loads((ROOT / "sdk/zoo/data/digits_cnn.json").read_text())
    d = load_digits()
    test = np.array(meta["test_indices"])
    images = (d.images.astype(np.float32) * np.float32(meta["preprocessing"]["input_scale"]))[:, None]
    train = np.setdiff1d(np.arange(len(d.target)), test)[:32]
    model = kiln.convert_model(ROOT / "sdk/zoo/data/digits_cnn.onnx")
    x, y = images[test], d.target[test]
    fp32 = float((core.compile_model(model, "CPU")({"input": x})[0].argmax(1) == y).mean())
    yield "digits CNN", "fp32", "CPU", f"top-1 {fp32:.4f}", ""
    for method in ("minmax", "percentile", "entropy"):
        start = time.perf_counter()
        q = kiln.quantize(model, [{"input": images[i:i + 1]} for i in train], method=method, progress=False)
        seconds = time.perf_counter() - start
        q.reshape([len(test), 1, 8, 8])
        for device in devices:
            acc = float((core.compile_model(q, device)({"input": x})[0].argmax(1) == y).mean())
            yield "digits CNN", f"int8 {method}", device, f"top-1 {acc:.4f}", f"quantize {seconds:.2f} s"


def model_rows(core, devices):
    import kiln
    import onnxruntime as ort
    from quant_onnx_models import residual_cnn_onnx, transformer_onnx

    for build in (residual_cnn_onnx, transformer_onnx):
        proto = build()
        session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
        shape = session.get_inputs()[0].shape
        rng = np.random.default_rng(0)
        calibration = [{"input": rng.standard_normal(shape).astype(np.float32)} for _ in range(8)]
        tests = [{"input": rng.standard_normal(shape).astype(np.float32)} for _ in range(4)]
        model = kiln.convert_model(proto)
        for method in ("minmax", "percentile", "entropy"):
            q = kiln.quantize(model, calibration, method=method, progress=False)
            for device in devices:
                compiled = core.compile_model(q, device)
                worst = min(cosine(session.run(None, t)[0], compiled(t)[0]) for t in tests)
                note = ""
                if device.startswith("HETERO"):
                    placement = compiled.executable.placement
                    heavy = ("Convolution", "GroupConvolution", "MatMul")
                    total = sum(t in heavy for t in placement.types.values())
                    note = f"{placement.count('VPU', heavy)}/{total} conv/matmul on VPU"
                yield proto.graph.name, f"int8 {method}", device, f"min cosine {worst:.5f}", note


SENTENCES = [
    "The cat sits on the mat.", "A quick brown fox jumps over the lazy dog.",
    "Quantization maps floating point numbers onto a small integer grid.",
    "Systolic arrays multiply matrices with a grid of processing elements.",
    "I love eating pizza on Friday evenings with my friends.",
    "The stock market fell sharply after the announcement.",
    "Neural networks can be compressed with post-training quantization.",
    "She plays the violin in the city orchestra.",
]


def minilm_rows(core, devices, tokens: int = 24):
    """Pretrained all-MiniLM-L6-v2 (optional package): sentence-embedding cosine, int8 vs fp32 Kiln CPU."""
    import kiln
    from kiln.zoo import minilm

    if not minilm.available():
        return
    model = kiln.convert_model(minilm.all_minilm_l6_v2(seq=tokens))

    def ids(text):
        out = np.zeros((1, tokens), np.int64)  # [PAD]-padded to a fixed length
        row = minilm.tokenize(text)[0, :tokens]
        out[0, :len(row)] = row
        return {"input_ids": out}

    calibration = [ids(t) for t in SENTENCES[:4]]
    tests = [ids(t) for t in SENTENCES[4:]]
    fp32 = core.compile_model(model, "CPU")
    reference = [fp32(t)["sentence_embedding"] for t in tests]
    start = time.perf_counter()
    q = kiln.quantize(model, calibration, progress=False)
    seconds = time.perf_counter() - start
    for device in devices:
        compiled = core.compile_model(q, device)
        worst = min(cosine(r, compiled(t)["sentence_embedding"]) for r, t in zip(reference, tests))
        note = f"quantize {seconds:.1f} s"
        if device.startswith("HETERO"):
            placement = compiled.executable.placement
            total = sum(t == "MatMul" for t in placement.types.values())
            note += f", {placement.count('VPU', ('MatMul',))}/{total} matmuls on VPU"
        yield "all-MiniLM-L6-v2", "int8 minmax", device, f"min cosine {worst:.5f}", note


def main() -> int:
    import kiln

    core = kiln.Core()
    devices = ["CPU"] + (["HETERO:VPU,CPU"] if "VPU" in core.available_devices else [])
    rows = [("model", "precision", "device", "accuracy", "note")]
    rows += list(digits_rows(core, devices)) + list(model_rows(core, devices))
    rows += list(minilm_rows(core, devices))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for i, row in enumerate(rows):
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |")
        if i == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
