"""ONNX's "light" model zoo on the CPU device against Kiln's numpy reference.

These models carry constant weights, so their logits are ~1e10 and nearly equal:
the final Softmax is ill-conditioned (a rounding difference flips it). The check
therefore stops at the Softmax's input, where a relative tolerance is meaningful.
"""

from __future__ import annotations

from pathlib import Path

import kiln
import numpy as np
import onnx
import pytest
from kiln.ir import Model, evaluate

LIGHT = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"


def before_softmax(model: Model) -> Model:
    softmax = [n.inputs[0] for n in model.ordered_nodes() if n.type_name == "Softmax"]
    return Model(softmax or [r.inputs[0] for r in model.results], model.parameters, name=model.name)


@pytest.mark.parametrize("name", ["squeezenet", "shufflenet", "inception_v1", "bvlc_alexnet",
                                  pytest.param("resnet50", marks=pytest.mark.slow),
                                  pytest.param("densenet121", marks=pytest.mark.slow)])
def test_light_model_matches_reference(name):
    path = LIGHT / f"light_{name}.onnx"
    model = before_softmax(kiln.optimize(kiln.convert_model(path)))
    rng = np.random.default_rng(0)
    feeds = {p.name: rng.random(p.attrs["shape"]).astype(np.float32) for p in model.parameters}
    got = kiln.Core().compile_model(model, "CPU")(feeds).to_list()
    want = evaluate(model, feeds)
    for g, w in zip(got, want):
        scale = float(np.abs(w).max()) or 1.0
        assert float(np.abs(g - w).max()) <= 1e-4 * scale
