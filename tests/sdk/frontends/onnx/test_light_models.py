"""The nine "light" model-zoo architectures that ship inside the onnx package, run on CPU.

Each model in ``onnx/backend/test/data/light/`` (``light_<name>.onnx``) comes with its
reference output (``light_<name>_output_0.pb``) for the input ONNX's backend runner feeds
it: ``arange(n).reshape(shape) / n`` in f32. Kiln converts the model, compiles it for
"CPU" and must match that output (rtol 1e-3, atol 1e-4).
"""

from __future__ import annotations

import os

import numpy as np
import onnx
import pytest
from kiln import Core
from onnx import numpy_helper

LIGHT = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light")

FAST = ["bvlc_alexnet", "inception_v1", "inception_v2", "resnet50", "shufflenet", "squeezenet"]
SLOW = ["densenet121", "vgg19", "zfnet512"]  # the heaviest on 2 cores with the reference kernels


def light_input(proto: onnx.ModelProto) -> tuple[str, np.ndarray]:
    """Return the graph input's name and the value ONNX's backend test runner feeds it."""
    initializers = {init.name for init in proto.graph.initializer}
    value_info = next(v for v in proto.graph.input if v.name not in initializers)
    dims = value_info.type.tensor_type.shape.dim
    shape = tuple(d.dim_value if d.HasField("dim_value") else 1 for d in dims)
    count = int(np.prod(shape))
    return value_info.name, (np.arange(count).reshape(shape) / count).astype(np.float32)


@pytest.mark.parametrize("name", FAST + [pytest.param(n, marks=pytest.mark.slow) for n in SLOW])
def test_light_model_matches_reference(name):
    path = os.path.join(LIGHT, f"light_{name}.onnx")
    core = Core()
    model = core.read_model(path)
    compiled = core.compile_model(model, "CPU")
    input_name, x = light_input(onnx.load(path))
    expected = numpy_helper.to_array(onnx.load_tensor(os.path.join(LIGHT, f"light_{name}_output_0.pb")))
    got = compiled({input_name: x})[0]
    assert got.shape == expected.shape
    assert got.dtype == expected.dtype
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-4)
