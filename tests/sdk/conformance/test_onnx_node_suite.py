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
