import numpy as np
from kiln.ir import ElementType, Model, constant, make, parameter
from kiln.passes import eliminate_dead_nodes


def test_identity_like_nodes_are_removed(check_pass, types):
    x = parameter("x", ElementType.f32, (2, 3))
    y = make("Convert", x.output(0), destination_type=ElementType.f32).output(0)
    y = make("Reshape", y, constant(np.int64([2, 3])), special_zero=False).output(0)
    y = make("Transpose", y, constant(np.int64([0, 1]))).output(0)
    y = make("Multiply", y, constant(np.float32(1))).output(0)
    y = make("Add", y, constant(np.zeros((1, 3), np.float32))).output(0)
    y = make("Relu", y).output(0)
    after = check_pass(Model([y], [x]), eliminate_dead_nodes)
    assert types(after) == ["Parameter", "Relu", "Result"]


def test_nodes_that_change_type_or_shape_stay(check_pass, types):
    x = parameter("x", ElementType.f32, (2, 3))
    y = make("Convert", x.output(0), destination_type=ElementType.f16).output(0)
    z = make("Add", x.output(0), constant(np.zeros((4, 2, 3), np.float32))).output(0)
    after = check_pass(Model([y, z], [x]), eliminate_dead_nodes)
    assert types(after).count("Convert") == 1 and "Add" in types(after)


def test_output_names_survive_removing_the_last_node(check_pass, types):
    x = parameter("x", ElementType.f32, (2, 3))
    relu = make("Relu", x.output(0)).output(0)
    y = make("Convert", relu, destination_type=ElementType.f32, name="cast").output(0)
    y.names.add("probabilities")
    model = Model([y], [x])
    after = check_pass(model, eliminate_dead_nodes)
    assert after.output_names == ["probabilities"]
    assert types(after) == ["Parameter", "Relu", "Result"]


def test_identity_on_a_named_input_feeding_an_output_is_kept(check_pass, types):
    x = parameter("x", ElementType.f32, (2, 3))
    y = make("Convert", x.output(0), destination_type=ElementType.f32).output(0)
    y.names.add("y")
    after = check_pass(Model([y], [x]), eliminate_dead_nodes)
    assert after.output_names == ["y"]


def test_moving_names_never_renames_another_output(check_pass, types):
    x = parameter("x", ElementType.f32, (2, 3))
    relu = make("Relu", x.output(0)).output(0)
    relu.names.add("r")
    cast = make("Convert", relu, destination_type=ElementType.f32).output(0)
    cast.names.add("a_cast")
    model = Model([relu, cast], [x])
    after = check_pass(model, eliminate_dead_nodes)
    assert after.output_names == ["r", "a_cast"]
