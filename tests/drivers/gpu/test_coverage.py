"""Which nodes of real models the GPU runs: every compute node of the benchmark's models."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
from kiln import Core, convert_model
from kiln.drivers.auto.plugin import compute_nodes
from kiln.passes import optimize

LIGHT = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"


def _model(name):
    if name.startswith("light_"):
        return onnx.load(str(LIGHT / f"{name}.onnx"))
    from kiln import zoo

    return zoo.onnx_model(name)


@pytest.mark.parametrize("name", ["light_resnet50", "light_squeezenet", "light_shufflenet",
                                  "mobilenet_v2_block", "transformer_layer"])
def test_gpu_takes_every_compute_node_of_benchmark_models(name):
    model = optimize(convert_model(_model(name)))
    taken = Core().query_model(model, "GPU")
    missing = [(n.name, n.type_name) for n in compute_nodes(model) if n.name not in taken]
    assert not missing
