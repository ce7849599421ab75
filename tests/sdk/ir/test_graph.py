import numpy as np
import pytest
from kiln.errors import InferenceInputError, KilnError, ShapeInferenceError
from kiln.ir import ElementType, Model, constant, evaluate, make, parameter, validate


def small_model():
    x = parameter("x", ElementType.f32, (None, 3))
    bias = constant(np.array([1, 2, -5], np.float32))
    y = make("Relu", make("Add", x.output(0), bias).output(0))
    return Model([y.output(0)], [x])


def test_infer_evaluate_and_validate():
    model = small_model()
    validate(model)
    assert model.outputs[0].shape == (None, 3)
    (out,) = evaluate(model, {"x": np.ones((2, 3), np.float32)})
    np.testing.assert_array_equal(out, [[2, 3, 0], [2, 3, 0]])


def test_reshape_makes_dynamic_dims_static():
    model = small_model().reshape({"x": (4, 3)})
    assert model.outputs[0].shape == (4, 3)


def test_broadcast_error_names_node():
    x = parameter("x", ElementType.f32, (2, 3))
    with pytest.raises(ShapeInferenceError, match="Add"):
        make("Add", x.output(0), constant(np.ones((4,), np.float32)), name="bad_add")


def test_wrong_input_shape_is_named():
    model = small_model().reshape({"x": (2, 3)})
    with pytest.raises(InferenceInputError, match="'x'"):
        evaluate(model, {"x": np.ones((5, 3), np.float32)})


def test_unknown_input_name():
    with pytest.raises(KilnError, match="no input 'nope'"):
        evaluate(small_model(), {"nope": np.ones((1, 3), np.float32)})


def test_clone_is_independent():
    model = small_model()
    copy = model.clone()
    copy.reshape({"x": (7, 3)})
    assert model.outputs[0].shape == (None, 3)
    assert copy.outputs[0].shape == (7, 3)
