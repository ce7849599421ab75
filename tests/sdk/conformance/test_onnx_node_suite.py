"""The ONNX backend node suite on Kiln's CPU device must keep its pass rate (docs/conformance.md)."""

import numpy as np
from kiln.conformance.onnx_node_suite import compare, format_markdown, format_report, run_suite

PASS_RATE_FLOOR = 0.94
"""Fraction of the 1,669 tensor-only cases that must pass; raise it as the rate climbs."""


def test_compare_checks_shape_dtype_values_and_nan():
    a = np.float32([1.0, np.nan])
    assert compare(a, a.copy(), 1e-3, 1e-4) == ""
    assert "dtype" in compare(a, a.astype(np.float64), 1e-3, 1e-4)
    assert "shape" in compare(a, a[:1], 1e-3, 1e-4)
    assert "differ" in compare(a, np.float32([1.1, np.nan]), 1e-3, 1e-4)
    assert "differ" in compare(np.int64([1, 2]), np.int64([1, 3]), 0, 0)


def test_node_suite_pass_rate_on_cpu():
    report = run_suite("CPU", progress=False)
    assert report.tensor_only == 1669
    text = format_report(report, failures=True)
    assert report.pass_rate >= PASS_RATE_FLOOR, text
    markdown = format_markdown(report, "python -m kiln.conformance")
    assert f"{report.passed} of {report.tensor_only}" in markdown
    excluded = [r for r in report.results if r.status == "excluded"]
    assert all(r.detail for r in excluded), "every exclusion carries a reason"


def test_cli_runs_a_selection_and_writes_markdown(tmp_path, capsys):
    from kiln.cli import main

    target = tmp_path / "conformance.md"
    assert main(["conformance", "-k", "test_gather_*", "--no-progress", "--failures",
                 "--markdown", str(target)]) == 0
    printed = capsys.readouterr().out
    assert "tensor-only cases pass" in printed and "Gather" in printed
    assert "| Gather |" in target.read_text()


def test_unavailable_device_stops_with_a_clear_error(capsys):
    from kiln.cli import main

    assert main(["conformance", "--device", "NOSUCHDEVICE", "--no-progress"]) == 1
    assert "NOSUCHDEVICE" in capsys.readouterr().err


TENSOR_OP_CASES = [
    "test_reshape_*", "test_slice*", "test_gather*", "test_resize_*", "test_reduce_*", "test_pad*",
    "test_split_*", "test_squeeze*", "test_unsqueeze*", "test_top_k*", "test_scatter*", "test_expand*",
    "test_tile*", "test_concat*", "test_transpose*", "test_flatten*", "test_where*", "test_range*",
    "test_onehot*", "test_cumsum*", "test_nonzero*", "test_unique*", "test_arg*",
]


def test_hidden_input_shapes_give_right_answers_or_clear_errors():
    """With every input dim (or the rank) unknown to the converter, tensor-op cases still pass or
    stop with a Kiln error: none computes a wrong answer."""
    for mode in ("dims", "rank"):
        report = run_suite("CPU", TENSOR_OP_CASES, progress=False, dynamic=mode)
        wrong = [f"{r.name}: {r.detail}" for r in report.results if r.status == "fail"]
        assert not wrong, wrong
        internal = [f"{r.name}: {r.detail}" for r in report.results if r.detail.startswith("internal")]
        assert not internal, internal
        assert report.passed >= 0.8 * report.tensor_only, format_report(report, failures=True)
