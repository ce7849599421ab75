import math

import numpy as np
import pytest
from kiln.ir import ElementType, Model, constant, make, parameter
from kiln.passes import fuse_gelu


def erf_of(x, by_multiply=False):
    if by_multiply:
        scaled = make("Multiply", constant(np.float32(1 / math.sqrt(2))), x).output(0)
    else:
        scaled = make("Divide", x, constant(np.float32(math.sqrt(2)))).output(0)
    erf = make("Erf", scaled).output(0)
    return make("Add", erf, constant(np.float32(1))).output(0)


def half():
    return constant(np.float32(0.5))


@pytest.mark.parametrize("form", ["half_x_times_t", "x_times_t_times_half", "x_times_t_half", "reciprocal"])
def test_erf_gelu_forms_become_one_gelu(form, check_pass, types):
    x = parameter("x", ElementType.f32, (2, 8))
    h = make("MatMul", x.output(0), constant(np.eye(8, dtype=np.float32))).output(0)
    t = erf_of(h, by_multiply=form == "reciprocal")
    if form == "half_x_times_t":
        y = make("Multiply", make("Multiply", h, half()).output(0), t).output(0)
    elif form in ("x_times_t_times_half", "reciprocal"):
        y = make("Multiply", make("Multiply", h, t).output(0), half()).output(0)
    else:
        y = make("Multiply", h, make("Multiply", t, half()).output(0), name="gelu_out").output(0)
    y.names.add("y")
    after = check_pass(Model([y], [x]), fuse_gelu)
    assert types(after) == ["Parameter", "Constant", "MatMul", "Gelu", "Result"]
    assert after.output_names == ["y"]


def test_other_factor_is_not_gelu(check_pass, types):
    x = parameter("x", ElementType.f32, (2, 8))
    t = erf_of(x.output(0))
    y = make("Multiply", make("Multiply", x.output(0), t).output(0), constant(np.float32(0.6))).output(0)
    after = check_pass(Model([y], [x]), fuse_gelu)
    assert "Gelu" not in types(after)


def test_shared_intermediate_is_kept(check_pass, types):
    x = parameter("x", ElementType.f32, (2, 8))
    t = erf_of(x.output(0))
    y = make("Multiply", make("Multiply", x.output(0), t).output(0), half()).output(0)
    after = check_pass(Model([y, t], [x]), fuse_gelu)
    assert "Gelu" not in types(after)
