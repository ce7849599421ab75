import numpy as np
from kiln.ir import ElementType, Model, constant, make, parameter
from kiln.passes import fuse_bias_activation
from kiln.passes.fuse_bias_activation import FUSED, FUSED_INTO


def conv(x, rng, channels=4):
    w = constant(rng.standard_normal((channels, x.shape[1], 3, 3)).astype(np.float32))
    return make("Convolution", x, w, strides=[1, 1], pads_begin=[1, 1], pads_end=[1, 1],
                dilations=[1, 1], name="conv").output(0)


def test_bias_adds_merge_and_group_is_marked(rng, check_pass, types):
    x = parameter("x", ElementType.f32, (1, 3, 5, 5))
    y = conv(x.output(0), rng)
    y = make("Add", y, constant(rng.standard_normal((4, 1, 1)).astype(np.float32))).output(0)
    y = make("Add", constant(rng.standard_normal((1, 4, 1, 1)).astype(np.float32)), y).output(0)
    y = make("Clamp", y, min=0.0, max=6.0, name="relu6").output(0)
    after = check_pass(Model([y], [x]), fuse_bias_activation)
    assert types(after).count("Add") == 1
    nodes = {n.name: n for n in after.ordered_nodes()}
    anchor = nodes["conv"]
    assert anchor.rt_info[FUSED] == "Add,Clamp"
    add = next(n for n in after.ordered_nodes() if n.type_name == "Add")
    assert add.inputs[0] == anchor.output(0) and add.input_value(1).shape == (1, 4, 1, 1)
    assert add.rt_info[FUSED_INTO] == "conv" and nodes["relu6"].rt_info[FUSED_INTO] == "conv"


def test_matmul_bias_becomes_one_dimensional(rng, check_pass, types):
    x = parameter("x", ElementType.f32, (2, 3, 8))
    w = constant(rng.standard_normal((8, 5)).astype(np.float32))
    y = make("MatMul", x.output(0), w, name="fc").output(0)
    y = make("Add", y, constant(rng.standard_normal((1, 1, 5)).astype(np.float32))).output(0)
    y = make("Relu", y).output(0)
    after = check_pass(Model([y], [x]), fuse_bias_activation)
    fc = next(n for n in after.ordered_nodes() if n.name == "fc")
    assert fc.rt_info[FUSED] == "Add,Relu"
    add = next(n for n in after.ordered_nodes() if n.type_name == "Add")
    assert add.input_value(1).shape == (5,)


def test_activation_without_bias_and_shared_output(rng, check_pass):
    x = parameter("x", ElementType.f32, (1, 3, 5, 5))
    y = conv(x.output(0), rng)
    relu = make("Relu", y).output(0)
    after = check_pass(Model([relu], [x]), fuse_bias_activation)
    assert next(n for n in after.ordered_nodes() if n.name == "conv").rt_info[FUSED] == "Relu"
    x = parameter("x", ElementType.f32, (1, 3, 5, 5))
    y = conv(x.output(0), rng)
    relu = make("Relu", y).output(0)
    after = check_pass(Model([relu, y], [x]), fuse_bias_activation)
    assert FUSED not in next(n for n in after.ordered_nodes() if n.name == "conv").rt_info


def test_spatial_add_is_not_a_bias(rng, check_pass):
    x = parameter("x", ElementType.f32, (1, 3, 5, 5))
    y = conv(x.output(0), rng)
    y = make("Add", y, constant(rng.standard_normal((1, 1, 5, 5)).astype(np.float32))).output(0)
    after = check_pass(Model([y], [x]), fuse_bias_activation)
    assert FUSED not in next(n for n in after.ordered_nodes() if n.name == "conv").rt_info
