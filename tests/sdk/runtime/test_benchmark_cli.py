"""`kiln benchmark`: report fields, async mode, shapes, counters, Perfetto trace, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import kiln.zoo
import pytest
from kiln.cli import main

DIGITS = str(Path(kiln.zoo.__file__).parent / "data" / "digits_cnn.onnx")


def test_sync_benchmark_writes_report_counters_and_trace(tmp_path, capsys):
    report, trace = tmp_path / "r.json", tmp_path / "t.json"
    assert main(["benchmark", "zoo:mobilenet_v2_block", "-niter", "5", "--no-progress", "-pc",
                 "--json", str(report), "--trace", str(trace)]) == 0
    out = capsys.readouterr().out
    for label in ("first inference", "median", "average", "min", "max", "p90", "throughput", "per-layer"):
        assert label in out
    data = json.loads(report.read_text())
    assert data["count"] == 5
    assert data["latency_min_ms"] <= data["latency_median_ms"] <= data["latency_max_ms"]
    assert data["counters"] and all(c["exec_type"] for c in data["counters"])
    events = [e for e in json.loads(trace.read_text())["traceEvents"] if e["ph"] == "X"]
    assert len(events) == len(data["counters"])
    assert all(b["ts"] >= a["ts"] + a["dur"] - 1e-6 for a, b in zip(events, events[1:]))


def test_async_benchmark_with_shape(tmp_path, capsys):
    report = tmp_path / "r.json"
    assert main(["benchmark", DIGITS, "--api", "async", "-nireq", "2", "-niter", "8",
                 "-shape", "input[4,1,8,8]", "--no-progress", "--json", str(report)]) == 0
    data = json.loads(report.read_text())
    assert data["requests"] == 2 and data["count"] == 8 and data["api"] == "async"


def test_dynamic_model_without_shape_is_a_clear_error(capsys):
    assert main(["benchmark", DIGITS, "-niter", "1", "--no-progress"]) == 1
    assert "dynamic shape" in capsys.readouterr().err


@pytest.mark.parametrize("argv,message", [(["zoo:nope"], "no zoo model"), (["missing.onnx"], "no such file")])
def test_bad_models_are_named(argv, message, capsys):
    assert main(["benchmark", *argv, "-niter", "1", "--no-progress"]) == 1
    assert message in capsys.readouterr().err
