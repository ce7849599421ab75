import numpy as np
import pytest
from kiln.ir import ElementType, Model, constant, make, parameter, validate
from kiln.passes import DEFAULT_PASSES, optimize
from kiln.passes.fuse_bias_activation import FUSED


@pytest.mark.parametrize("groups", [1, 3])
def test_optimize_conv_bn_relu(rng, groups, check_pass, types, build_conv_bn_relu):
    model = build_conv_bn_relu(rng, groups=groups, dynamic_batch=True)
    before = types(model)
    after = check_pass(model, optimize)
    assert types(model) == before, "optimize must not change its input"
    kind = "Convolution" if groups == 1 else "GroupConvolution"
    assert types(after) == ["Parameter", "Constant", kind, "Constant", "Add", "Relu", "Result"]
    assert next(n for n in after.ordered_nodes() if n.type_name == kind).rt_info[FUSED] == "Add,Relu"


def test_each_default_pass_keeps_the_graph_valid(rng, check_pass, build_conv_bn_relu):
    model = build_conv_bn_relu(rng)
    for run in DEFAULT_PASSES:
        model = check_pass(model, run)
        validate(model)


def test_transformer_block_shapes_fold_and_transposes_cancel(rng, check_pass, types):
    x = parameter("tokens", ElementType.f32, (2, 4, 8))
    w = make("Convert", constant(rng.standard_normal((8, 8)).astype(np.float16)),
             destination_type=ElementType.f32).output(0)
    q = make("MatMul", x.output(0), w).output(0)
    q = make("Add", q, constant(rng.standard_normal(8).astype(np.float32))).output(0)
    shape = make("ShapeOf", q).output(0)
    batch = make("Gather", shape, constant(np.int64([0, 1])), constant(np.int64(0)), batch_dims=0).output(0)
    heads = make("Concat", batch, constant(np.int64([2, 4])), axis=0).output(0)
    split = make("Reshape", q, heads, special_zero=False).output(0)
    perm = make("Transpose", split, constant(np.int64([0, 2, 1, 3]))).output(0)
    back = make("Transpose", perm, constant(np.int64([0, 2, 1, 3]))).output(0)
    merged = make("Reshape", back, constant(np.int64([0, 0, -1])), special_zero=True).output(0)
    y = make("Softmax", merged, axis=-1).output(0)
    after = check_pass(Model([y], [x]), optimize)
    assert types(after) == ["Parameter", "Constant", "MatMul", "Constant", "Add", "Softmax", "Result"]


def test_quantized_weights_survive_optimize(rng, check_pass, types):
    """The int8 weight form of docs/quantization.md and activation FakeQuantize are left for the VPU."""
    x = parameter("x", ElementType.f32, (1, 3, 5, 5))
    ranges = [constant(np.float32(v)) for v in (-128 * 0.02, 127 * 0.02, -128 * 0.02, 127 * 0.02)]
    xq = make("FakeQuantize", x.output(0), *ranges, levels=256).output(0)
    codes = constant(rng.integers(-127, 128, (4, 3, 3, 3)).astype(np.int8))
    w = make("Convert", codes, destination_type=ElementType.f32).output(0)
    w = make("Multiply", w, constant(rng.uniform(0.01, 0.02, (4, 1, 1, 1)).astype(np.float32))).output(0)
    wq = make("FakeQuantize", constant(rng.standard_normal((4, 4, 1, 1)).astype(np.float32)),
              *ranges, levels=256).output(0)
    y = make("Convolution", xq, w, strides=[1, 1], pads_begin=[1, 1], pads_end=[1, 1],
             dilations=[1, 1]).output(0)
    y = make("Add", y, constant(rng.standard_normal((1, 4, 1, 1)).astype(np.float32))).output(0)
    y = make("Convolution", y, wq, strides=[1, 1], pads_begin=[0, 0], pads_end=[0, 0],
             dilations=[1, 1]).output(0)
    after = check_pass(Model([y], [x]), optimize)
    kinds = types(after)
    assert kinds.count("FakeQuantize") == 1 and kinds.count("Convert") == 1
    conv = next(n for n in after.ordered_nodes() if n.type_name == "Convolution")
    assert conv.inputs[1].node.type_name == "Multiply"
    assert conv.inputs[1].node.inputs[0].node.inputs[0].element_type is ElementType.i8
