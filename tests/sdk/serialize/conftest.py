"""Shared checks of the IR serialization tests: model equality, bit-exact constants."""

from __future__ import annotations

import numpy as np
import pytest
from kiln.ir import ElementType, Model


def _same_value(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        if a.dtype != b.dtype or a.shape != b.shape:
            return False
        if a.dtype == object:
            return a.tolist() == b.tolist()
        return a.tobytes() == b.tobytes()
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float) and np.isnan(a) and np.isnan(b):
        return True
    if isinstance(a, ElementType) or isinstance(b, ElementType):
        return a is b
    return a == b


def same_model(a: Model, b: Model) -> None:
    """Assert that two models have the same graph, attributes, bit-exact constants and names."""
    assert a.name == b.name
    assert a.rt_info == b.rt_info
    assert a.input_names == b.input_names and a.output_names == b.output_names
    nodes_a, nodes_b = a.ordered_nodes(), b.ordered_nodes()
    assert [n.type_name for n in nodes_a] == [n.type_name for n in nodes_b]
    index_a = {id(n): i for i, n in enumerate(nodes_a)}
    index_b = {id(n): i for i, n in enumerate(nodes_b)}
    for x, y in zip(nodes_a, nodes_b):
        where = f"node {x.name!r} ({x.type_name})"
        assert x.name == y.name, where
        assert set(x.attrs) == set(y.attrs), where
        for key in x.attrs:
            assert _same_value(x.attrs[key], y.attrs[key]), f"{where}: attribute {key}: " \
                f"{x.attrs[key]!r} != {y.attrs[key]!r}"
        assert x.output_types == y.output_types, where
        assert x.output_names == y.output_names, where
        assert x.rt_info == y.rt_info, where
        assert [(index_a[id(p.node)], p.index) for p in x.inputs] == \
            [(index_b[id(p.node)], p.index) for p in y.inputs], where


@pytest.fixture
def assert_same_model():
    """Return ``check(a, b)`` asserting graph, attributes, constants (bit-exact) and names are equal."""
    return same_model
