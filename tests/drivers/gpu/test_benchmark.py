"""benchmarks/gpu_vs_cpu.py: its measuring path on a tiny model, and its message without a GPU."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from kiln.drivers.gpu.device import ALLOW_SIMULATOR
from onnx import TensorProto, helper, numpy_helper

SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "gpu_vs_cpu.py"


@pytest.fixture
def benchmark():
    spec = importlib.util.spec_from_file_location("gpu_vs_cpu", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tiny_onnx():
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((4, 2, 3, 3)).astype(np.float32), "w")
    b = numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "b")
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("GlobalAveragePool", ["r"], ["y"])]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 5, 5])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 1, 1])
    graph = helper.make_graph(nodes, "tiny", [x], [y], [w, b])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_measure_compares_gpu_with_cpu_and_onnxruntime(benchmark, monkeypatch):
    pytest.importorskip("onnxruntime")
    monkeypatch.setattr(benchmark, "load_proto", lambda name: _tiny_onnx())
    result = benchmark.measure("tiny", runs=1, warmup=0, engines=list(benchmark.ENGINES), seed=0)
    assert result["kiln-gpu"]["backend"] == "GPU" and result["kiln-cpu"]["backend"] == "CPU"
    assert all(result[e]["median_ms"] > 0 for e in benchmark.ENGINES)
    assert result["gpu_vs_cpu_max_rel_error"] < 1e-5


def test_without_gpu_it_says_why_and_measures_nothing(benchmark, monkeypatch, capsys, gpu_backend):
    if gpu_backend != "simulator":
        pytest.skip("this machine has a working CUDA GPU")
    monkeypatch.delenv(ALLOW_SIMULATOR)
    assert benchmark.main(["--models", "resnet50"]) == 2
    err = capsys.readouterr().err
    assert "nothing measured" in err and "GPU is not available" in err


def test_plan_prints_the_device_plan_without_running_kernels(benchmark, capsys):
    assert benchmark.main(["--plan", "--models", "mobilenet_v2_block", "transformer_layer"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["model", "kernels", "views"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert set(rows) == {"mobilenet_v2_block", "transformer_layer"}
    for cells in rows.values():
        kernels, host, up, down = int(cells[1]), int(cells[3]), int(cells[4]), int(cells[5])
        assert kernels > 0 and host == 0 and up == down == 1
        assert float(cells[8]) <= float(cells[9])  # the arena never exceeds one buffer per value
