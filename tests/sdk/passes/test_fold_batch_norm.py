import numpy as np
import pytest
from kiln.ir import ElementType, Model, constant, make, parameter
from kiln.passes import fold_batch_norm


@pytest.mark.parametrize("groups", [1, 2, 6])
@pytest.mark.parametrize("bias", [True, False])
def test_batch_norm_folds_into_convolution(rng, groups, bias, check_pass, types, build_conv_bn_relu):
    model = build_conv_bn_relu(rng, groups=groups, bias=bias)
    after = check_pass(model, fold_batch_norm)
    kinds = types(after)
    assert "BatchNormInference" not in kinds
    assert kinds.count("Add") == 1
    conv = next(n for n in after.ordered_nodes() if n.name == "conv")
    assert conv.inputs[1].node.name == "w/folded"
    bias_const = next(n for n in after.ordered_nodes() if n.type_name == "Add").inputs[1].constant_value()
    assert bias_const.shape == (1, 6, 1, 1) and bias_const.dtype == np.float32


def test_multiply_add_chain_folds_with_dynamic_batch(rng, check_pass, types):
    x = parameter("x", ElementType.f32, (None, 3, 5, 5))
    w = constant(rng.standard_normal((4, 3, 1, 1)).astype(np.float32))
    y = make("Convolution", x.output(0), w, strides=[1, 1], pads_begin=[0, 0], pads_end=[0, 0],
             dilations=[1, 1]).output(0)
    y = make("Multiply", y, constant(rng.uniform(1, 2, (4, 1, 1)).astype(np.float32))).output(0)
    y = make("Divide", y, constant(np.float32(3))).output(0)
    y = make("Subtract", y, constant(rng.standard_normal((1, 4, 1, 1)).astype(np.float32))).output(0)
    after = check_pass(Model([y], [x]), fold_batch_norm)
    assert types(after).count("Multiply") == 0 and types(after).count("Divide") == 0


def test_matmul_scale_folds_into_weights(rng, check_pass, types):
    x = parameter("x", ElementType.f32, (3, 8))
    for transpose_b in (False, True):
        shape = (5, 8) if transpose_b else (8, 5)
        w = constant(rng.standard_normal(shape).astype(np.float32))
        y = make("MatMul", x.output(0), w, transpose_b=transpose_b).output(0)
        y = make("Multiply", y, constant(rng.standard_normal(5).astype(np.float32))).output(0)
        y = make("Add", y, constant(rng.standard_normal(5).astype(np.float32))).output(0)
        after = check_pass(Model([y], [x]), fold_batch_norm)
        assert types(after).count("Multiply") == 0


def test_non_per_channel_scale_is_left_alone(rng, check_pass, types):
    x = parameter("x", ElementType.f32, (1, 3, 4, 4))
    w = constant(rng.standard_normal((2, 3, 1, 1)).astype(np.float32))
    conv = make("Convolution", x.output(0), w, strides=[1, 1], pads_begin=[0, 0], pads_end=[0, 0],
                dilations=[1, 1]).output(0)
    spatial = make("Multiply", conv, constant(rng.standard_normal((1, 1, 4, 4)).astype(np.float32))).output(0)
    after = check_pass(Model([spatial], [x]), fold_batch_norm)
    assert "Multiply" in types(after)


def test_shared_convolution_output_is_not_folded(rng, check_pass, types):
    x = parameter("x", ElementType.f32, (1, 3, 4, 4))
    w = constant(rng.standard_normal((2, 3, 1, 1)).astype(np.float32))
    conv = make("Convolution", x.output(0), w, strides=[1, 1], pads_begin=[0, 0], pads_end=[0, 0],
                dilations=[1, 1]).output(0)
    scaled = make("Multiply", conv, constant(np.float32([[[2.0]], [[3.0]]]))).output(0)
    after = check_pass(Model([scaled, conv], [x]), fold_batch_norm)
    assert "Multiply" in types(after)


def test_affine_chain_after_a_concat_merges(rng, check_pass, types):
    a = parameter("a", ElementType.f32, (None, 2, 3, 3))
    b = parameter("b", ElementType.f32, (None, 2, 3, 3))
    y = make("Concat", a.output(0), b.output(0), axis=1).output(0)
    stats = [constant(v.astype(np.float32)) for v in (
        rng.uniform(0.5, 2, 4), rng.standard_normal(4), rng.standard_normal(4), rng.uniform(0.5, 2, 4))]
    y = make("BatchNormInference", y, *stats, epsilon=1e-3).output(0)
    y = make("Multiply", y, constant(rng.standard_normal((4, 1, 1)).astype(np.float32))).output(0)
    y = make("Add", y, constant(rng.standard_normal((1, 4, 1, 1)).astype(np.float32))).output(0)
    y = make("Relu", y).output(0)
    after = check_pass(Model([y], [a, b]), fold_batch_norm)
    assert types(after) == ["Parameter", "Parameter", "Concat", "Constant", "Multiply", "Constant", "Add",
                            "Relu", "Result"]


def test_single_batch_norm_without_convolution_stays(rng, check_pass, types):
    x = parameter("x", ElementType.f32, (1, 4, 3, 3))
    stats = [constant(v.astype(np.float32)) for v in (
        rng.uniform(0.5, 2, 4), rng.standard_normal(4), rng.standard_normal(4), rng.uniform(0.5, 2, 4))]
    y = make("BatchNormInference", x.output(0), *stats, epsilon=1e-3).output(0)
    after = check_pass(Model([y], [x]), fold_batch_norm)
    assert "BatchNormInference" in types(after)
