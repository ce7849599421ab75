"""The per-layer SQNR report."""

from __future__ import annotations

import math

import numpy as np
import pytest
from kiln import quantize
from kiln.ir import evaluate
from kiln.quantization import QuantizationError, report
from kiln.quantization.report import sqnr_db
from quant_models import residual_cnn, samples, transformer_layer


def test_sqnr_db():
    assert sqnr_db(100.0, 1.0) == pytest.approx(20.0)
    assert math.isinf(sqnr_db(1.0, 0.0))


def test_report_rows_and_output_figures():
    model = transformer_layer()
    data = samples(model, 6)
    q = quantize(model, data, progress=False, optimize=False)
    result = report(model, q, data)
    names = [e.name for e in result.layers]
    assert names == [n.name for n in q.ordered_nodes() if n.type_name == "MatMul"]
    assert result.samples == 6
    for row in result.layers:
        assert 10.0 < row.layer_sqnr_db < 80.0 and 10.0 < row.cumulative_sqnr_db < 80.0
        assert row.activation_scale > 0
        assert (row.weight_sqnr_db is None) == (row.name in ("scores", "context"))
        if row.weight_sqnr_db is not None:
            assert 35.0 < row.weight_sqnr_db < 60.0  # 8-bit per-channel weights
    # The output figures agree with a direct computation.
    sqnr, cos = result.outputs["output"]
    ref = np.concatenate([evaluate(model, d)[0].ravel() for d in data]).astype(np.float64)
    got = np.concatenate([evaluate(q, d)[0].ravel() for d in data]).astype(np.float64)
    assert sqnr == pytest.approx(sqnr_db(ref @ ref, (ref - got) @ (ref - got)), rel=1e-6)
    assert cos == pytest.approx(ref @ got / np.linalg.norm(ref) / np.linalg.norm(got), rel=1e-9)
    text = result.table()
    assert "layer" in text and "cumul. dB" in text and "<- worst" in text and "output output" in text
    assert result.worst(1)[0].layer_sqnr_db == min(e.layer_sqnr_db for e in result.layers)


def test_layer_alone_isolates_one_layer():
    """Keeping one layer in float gives it infinite layer-alone SQNR; the rest stay finite."""
    model = residual_cnn()
    data = samples(model, 4)
    full = report(model, quantize(model, data, progress=False, optimize=False), data)
    kept = quantize(model, data, progress=False, optimize=False, ignored_names=["down"])
    partial = report(model, kept, data)
    assert "down" in [e.name for e in full.layers] and "down" not in [e.name for e in partial.layers]
    full_rows = {e.name: e for e in full.layers}
    for row in partial.layers:
        assert row.layer_sqnr_db == pytest.approx(full_rows[row.name].layer_sqnr_db, rel=1e-6)


def test_report_errors():
    model = residual_cnn()
    with pytest.raises(QuantizationError, match="no quantized layer"):
        report(model, model, samples(model, 1))
    q = quantize(model, samples(model, 1), progress=False, optimize=False)
    with pytest.raises(QuantizationError, match="empty"):
        report(model, q, [])
