"""The digits CNN kept in the repo: fp32 held-out accuracy on Kiln CPU, and int8 within 1 point."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from kiln import Core, convert_model, quantize

DATA = Path(__file__).resolve().parents[3] / "sdk" / "zoo" / "data"


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    meta = json.loads((DATA / "digits_cnn.json").read_text())
    d = load_digits()
    test = np.array(meta["test_indices"])
    train = np.setdiff1d(np.arange(len(d.target)), test)
    scale = np.float32(meta["preprocessing"]["input_scale"])
    images = (d.images.astype(np.float32) * scale)[:, None]
    return meta, images[train], images[test], d.target[test]


def accuracy(compiled, x, y) -> float:
    return float((compiled({"input": x})["logits"].argmax(1) == y).mean())


def test_fp32_accuracy_matches_recorded(digits):
    meta, _, x, y = digits
    assert len(y) == 360
    fp32 = accuracy(Core().compile_model(convert_model(DATA / "digits_cnn.onnx"), "CPU"), x, y)
    assert fp32 == pytest.approx(meta["fp32_test_top1"], abs=1e-9)
    assert fp32 >= 0.97


@pytest.mark.parametrize("method", ["minmax", "entropy"])
def test_int8_within_one_point(digits, method):
    meta, train, x, y = digits
    model = convert_model(DATA / "digits_cnn.onnx")
    calibration = [{"input": train[i:i + 1]} for i in range(32)]
    q = quantize(model, calibration, method=method, progress=False)
    int8 = accuracy(Core().compile_model(q, "CPU"), x, y)
    assert int8 >= meta["fp32_test_top1"] - 0.01
