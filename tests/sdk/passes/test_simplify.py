import numpy as np
from kiln.ir import ElementType, Model, constant, make, parameter
from kiln.passes import simplify_reshapes, simplify_transposes


def transpose(port, order):
    return make("Transpose", port, constant(np.int64(order))).output(0)


def test_inverse_transposes_cancel(check_pass, types):
    x = parameter("x", ElementType.f32, (2, 3, 4, 5))
    y = transpose(transpose(x.output(0), [0, 2, 3, 1]), [0, 3, 1, 2])
    after = check_pass(Model([make("Relu", y).output(0)], [x]), simplify_transposes)
    assert "Transpose" not in types(after)


def test_consecutive_transposes_merge(check_pass, types):
    x = parameter("x", ElementType.f32, (2, 3, 4, 5))
    y = transpose(transpose(transpose(x.output(0), [0, 2, 3, 1]), [1, 0, 2, 3]), [])
    after = check_pass(Model([y], [x]), simplify_transposes)
    assert types(after).count("Transpose") == 1


def test_transpose_read_elsewhere_stays(check_pass, types):
    x = parameter("x", ElementType.f32, (2, 3))
    inner = transpose(x.output(0), [1, 0])
    outer = transpose(inner, [1, 0])
    after = check_pass(Model([inner, make("Relu", outer).output(0)], [x]), simplify_transposes)
    assert types(after).count("Transpose") == 1


def test_reshape_chain_merges_static(check_pass, types):
    x = parameter("x", ElementType.f32, (2, 3, 4))
    y = make("Reshape", x.output(0), constant(np.int64([6, 4])), special_zero=False).output(0)
    y = make("Unsqueeze", y, constant(np.int64([0]))).output(0)
    y = make("Squeeze", y, constant(np.int64([0]))).output(0)
    y = make("Reshape", y, constant(np.int64([0, -1])), special_zero=True).output(0)
    after = check_pass(Model([y], [x]), simplify_reshapes)
    assert types(after).count("Reshape") == 1
    assert types(after) == ["Parameter", "Constant", "Reshape", "Result"]


def test_reshape_chain_merges_dynamic_without_copied_zero(check_pass, types):
    x = parameter("x", ElementType.f32, (None, 3, 4))
    y = make("Reshape", x.output(0), constant(np.int64([-1, 4])), special_zero=False).output(0)
    y = make("Reshape", y, constant(np.int64([-1, 2, 2])), special_zero=True).output(0)
    after = check_pass(Model([y], [x]), simplify_reshapes)
    assert types(after).count("Reshape") == 1


def test_reshape_chain_with_copied_zero_and_dynamic_dims_stays(check_pass, types):
    x = parameter("x", ElementType.f32, (None, 3, 4))
    y = make("Reshape", x.output(0), constant(np.int64([0, 12])), special_zero=True).output(0)
    y = make("Reshape", y, constant(np.int64([0, 3, 4])), special_zero=True).output(0)
    after = check_pass(Model([y], [x]), simplify_reshapes)
    assert types(after).count("Reshape") == 2
