"""The graph archive used by exported blobs: a lossless, fast round trip, and clear errors."""

from __future__ import annotations

import kiln
import numpy as np
import pytest
from kiln import zoo
from kiln.ir import evaluate, validate
from kiln.runtime import graph_archive


def test_round_trip_keeps_graph_types_and_weights():
    model = zoo.get("mobilenet_v2_block", size=8)
    restored = graph_archive.decode(graph_archive.encode(model))
    validate(restored)
    assert [n.type_name for n in restored.ordered_nodes()] == [n.type_name for n in model.ordered_nodes()]
    assert restored.input_names == model.input_names and restored.output_names == model.output_names
    x = np.random.default_rng(0).standard_normal((1, 32, 8, 8)).astype(np.float32)
    np.testing.assert_array_equal(evaluate(restored, [x])[0], evaluate(model, [x])[0])


def test_round_trip_of_an_integer_model_with_dynamic_dims():
    model = zoo.get("transformer_layer", seq=4)
    model.reshape({"hidden_states": (1, None, 384)})
    restored = graph_archive.decode(graph_archive.encode(model))
    assert restored.inputs[0].shape == (1, None, 384)
    assert restored.parameters[0].attrs["element_type"] == kiln.ElementType.f32


@pytest.mark.parametrize("damage", [lambda b: b[:20], lambda b: b"\x05" + b[1:], lambda b: b[:-100]])
def test_damaged_archive_raises_model_format_error(damage):
    blob = graph_archive.encode(zoo.get("mobilenet_v2_block", size=8))
    with pytest.raises(kiln.ModelFormatError):
        graph_archive.decode(damage(blob), "test.kilnblob")
