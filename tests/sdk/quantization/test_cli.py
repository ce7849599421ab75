"""`kiln quantize` on the command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from kiln.cli import main

DATA = Path(__file__).resolve().parents[3] / "sdk" / "zoo" / "data"


def _calibration(path: Path, count: int = 8) -> Path:
    from sklearn.datasets import load_digits

    test = set(json.loads((DATA / "digits_cnn.json").read_text())["test_indices"])
    d = load_digits()
    rows = [i for i in range(len(d.target)) if i not in test][:count]
    np.savez(path, input=(d.images[rows].astype(np.float32) / 16)[:, None])
    return path


def test_quantize_command_writes_ir_and_report(tmp_path, capsys):
    cal = _calibration(tmp_path / "cal.npz")
    out = tmp_path / "out" / "digits_int8.xml"
    code = main(["quantize", str(DATA / "digits_cnn.onnx"), "--calibration", str(cal), "-o", str(out),
                 "--method", "percentile", "--report", "--ignore-name", "fc", "-q"])
    assert code == 0
    assert out.exists() and out.with_suffix(".bin").exists()
    text = out.read_text()
    # conv1, conv2, dwconv inputs; with fc in float the residual Add feeds no int8 layer, so stays float
    assert text.count('type="FakeQuantize"') == 3
    table = capsys.readouterr().out
    assert "conv1" in table and "conv2" in table and "output logits" in table
    assert "\nfc " not in table


def test_quantize_command_errors(tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    np.savez(bad, input=np.zeros((4, 8, 8), np.float32))
    assert main(["quantize", str(DATA / "digits_cnn.onnx"), "--calibration", str(bad), "-q",
                 "-o", str(tmp_path / "x.xml")]) == 1
    assert "needs rank 4 or 5" in capsys.readouterr().err
    other = tmp_path / "other.npz"
    np.savez(other, images=np.zeros((4, 1, 8, 8), np.float32), labels=np.zeros(4))
    assert main(["quantize", str(DATA / "digits_cnn.onnx"), "--calibration", str(other), "-q"]) == 1
    assert "no array for input(s) ['input']" in capsys.readouterr().err


def test_quantize_command_takes_npy_of_samples(tmp_path, capsys):
    cal = _calibration(tmp_path / "cal.npz", count=6)
    images = np.load(cal)["input"]                      # [6, 1, 8, 8]: batch-1 samples
    np.save(tmp_path / "cal.npy", images[:, None])      # [6, 1, 1, 8, 8]: one sample per row
    out = tmp_path / "q.xml"
    assert main(["quantize", str(DATA / "digits_cnn.onnx"), "--calibration", str(tmp_path / "cal.npy"),
                 "-o", str(out), "--samples", "4"]) == 0
    assert "4 samples" in capsys.readouterr().err
    assert out.exists()
