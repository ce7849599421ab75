"""`kiln compile`, `kiln benchmark -d VPU` and `kiln demo` through the command line."""

import kiln
import numpy as np
import pytest
from kiln.cli import main
from sklearn.datasets import load_digits

DIGITS = kiln.__file__.replace("__init__.py", "zoo/data/digits_cnn.onnx")


@pytest.fixture(scope="module")
def quantized_digits(tmp_path_factory):
    images = (load_digits().images[:16, None] * 0.0625).astype(np.float32)
    model = kiln.convert_model(DIGITS).reshape({"input": (1, 1, 8, 8)})
    q = kiln.quantize(model, [{"input": images[i:i + 1]} for i in range(16)], progress=False)
    path = tmp_path_factory.mktemp("digits") / "digits_int8.xml"
    kiln.save_model(q, path)
    return path


def test_compile_writes_programs_and_assembly(quantized_digits, tmp_path, capsys):
    assert main(["compile", str(quantized_digits), "-o", str(tmp_path), "--dim", "8"]) == 0
    programs = sorted(tmp_path.glob("*.kvpu"))
    assert programs and all(p.with_suffix(".s").read_text().startswith("# layer") for p in programs)
    assert "instructions" in capsys.readouterr().out


def test_benchmark_reports_simulated_cycles(quantized_digits, capsys):
    assert main(["benchmark", str(quantized_digits), "-d", "HETERO:VPU,CPU", "-niter", "2", "-pc",
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "VPU (isa-sim, 8x8" in out and "MAC utilisation" in out
    assert "conv1" in out and "subgraph0_VPU" in out


def test_demo_runs_the_main_job(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "int8 on VPU (+CPU) top-1" in out
    assert (tmp_path / "digits_cnn_int8.xml").exists() and list(tmp_path.glob("vpu_trace.*.json"))
