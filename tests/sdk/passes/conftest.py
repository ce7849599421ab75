"""Small IR graphs for the pass tests, and a checker that a pass keeps outputs equal."""

from __future__ import annotations

import numpy as np
import pytest
from kiln.ir import ElementType, Model, constant, evaluate, make, parameter, validate


def random_inputs(model: Model, rng: np.random.Generator) -> dict[str, np.ndarray]:
    feeds = {}
    for param in model.parameters:
        shape = [d if d is not None else 2 for d in param.attrs["shape"]]
        feeds[param.name] = rng.standard_normal(shape).astype(param.attrs["element_type"].numpy)
    return feeds


def run_and_compare(model: Model, run, rtol=1e-5, atol=1e-5) -> Model:
    """Run ``run`` on a copy of ``model``; check it validates and computes the same outputs."""
    validate(model)
    rng = np.random.default_rng(0)
    feeds = random_inputs(model, rng)
    expected = evaluate(model, feeds)
    names = model.output_names
    after = run(model.clone())
    validate(after)
    assert after.output_names == names
    assert after.input_names == model.input_names
    got = evaluate(after, feeds)
    for want, have in zip(expected, got):
        assert have.dtype == want.dtype and have.shape == want.shape
        np.testing.assert_allclose(have, want, rtol=rtol, atol=atol)
    return after


def types_of(model: Model) -> list[str]:
    return [n.type_name for n in model.ordered_nodes()]


@pytest.fixture
def rng():
    return np.random.default_rng(1)


def conv_bn_relu(rng, groups: int = 1, bias: bool = True, dynamic_batch: bool = False) -> Model:
    """Return x -> Convolution (+ bias Add) -> BatchNormInference -> Relu (grouped when groups > 1)."""
    x = parameter("x", ElementType.f32, (None if dynamic_batch else 2, 6, 6, 6))
    if groups == 1:
        w = constant(rng.standard_normal((6, 6, 3, 3)).astype(np.float32), name="w")
        y = make("Convolution", x.output(0), w, strides=[1, 1], pads_begin=[1, 1], pads_end=[1, 1],
                 dilations=[1, 1], name="conv").output(0)
    else:
        shape = (groups, 6 // groups, 6 // groups, 3, 3)
        w = constant(rng.standard_normal(shape).astype(np.float32), name="w")
        y = make("GroupConvolution", x.output(0), w, strides=[1, 1], pads_begin=[1, 1], pads_end=[1, 1],
                 dilations=[1, 1], name="conv").output(0)
    if bias:
        b = constant(rng.standard_normal((1, 6, 1, 1)).astype(np.float32), name="b")
        y = make("Add", y, b, name="conv_bias").output(0)
    stats = [constant(v.astype(np.float32)) for v in (
        rng.uniform(0.5, 2, 6), rng.standard_normal(6), rng.standard_normal(6), rng.uniform(0.5, 2, 6))]
    y = make("BatchNormInference", y, *stats, epsilon=1e-5, name="bn").output(0)
    y = make("Relu", y, name="relu").output(0)
    y.names.add("y")
    return Model([y], [x], name="conv_bn_relu")


@pytest.fixture
def check_pass():
    """Return ``check(model, pass) -> optimized``: validates and compares outputs before/after."""
    return run_and_compare


@pytest.fixture
def types():
    """Return ``types(model) -> [op type of each node]``."""
    return types_of


@pytest.fixture
def build_conv_bn_relu():
    """Return the conv -> (bias) -> BatchNorm -> Relu model builder."""
    return conv_bn_relu
