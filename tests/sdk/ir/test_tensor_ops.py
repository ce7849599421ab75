"""IR shape/movement, indexing, reduction, sorting and resize ops: references and shape inference."""

import numpy as np
import pytest
from kiln.errors import ShapeInferenceError
from kiln.ir import ElementType, Model, constant, evaluate, make, parameter, validate


def run(node, *feeds):
    """Evaluate ``node``'s outputs on a model whose Parameters (in graph order) are fed ``feeds``."""
    params = [n for n in Model(node.outputs, []).ordered_nodes() if n.type_name == "Parameter"]
    model = Model(node.outputs, params)
    validate(model)
    return evaluate(model, list(feeds))


def f32(shape, name="x"):
    return parameter(name, ElementType.f32, shape)


def i64(values):
    return constant(np.asarray(values, np.int64))


def test_reshape_special_zero_and_minus_one():
    x = f32((2, 3, 4))
    node = make("Reshape", x.output(0), i64([0, -1]), special_zero=True)
    assert node.output(0).shape == (2, 12)
    data = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    np.testing.assert_array_equal(run(node, data)[0], data.reshape(2, 12))


def test_reshape_keeps_dynamic_dims_and_rejects_bad_targets():
    x = f32((None, 3, 4))
    assert make("Reshape", x.output(0), i64([0, 12]), special_zero=True).output(0).shape == (None, 12)
    assert make("Reshape", x.output(0), i64([-1, 6]), special_zero=False).output(0).shape == (None, 6)
    with pytest.raises(ShapeInferenceError, match="Reshape"):
        make("Reshape", f32((2, 3)).output(0), i64([4, 2]), special_zero=False)


def test_shape_subgraph_values_follow_reshape():
    """A Reshape target computed from ShapeOf is known ahead of inference, and re-inferred."""
    x = f32((2, 3, 4))
    shape = make("ShapeOf", x.output(0), output_type=ElementType.i64)
    head = make("Gather", shape.output(0), i64([0]), i64(0))
    target = make("Concat", head.output(0), i64([-1]), axis=0)
    flat = make("Reshape", x.output(0), target.output(0), special_zero=False)
    model = Model([flat.output(0)], [x])
    assert model.outputs[0].shape == (2, 12)
    model.reshape([5, 3, 4])
    assert model.outputs[0].shape == (5, 12)
    model.reshape([None, 3, 4])
    assert model.outputs[0].shape == (None, 12)


def test_squeeze_unsqueeze_transpose():
    x = f32((1, 3, 1, 2))
    sq = make("Squeeze", x.output(0), i64([0, -2]))
    assert sq.output(0).shape == (3, 2)
    un = make("Unsqueeze", sq.output(0), i64([0, 3]))
    assert un.output(0).shape == (1, 3, 2, 1)
    tr = make("Transpose", un.output(0), i64([3, 2, 1, 0]))
    assert tr.output(0).shape == (1, 2, 3, 1)
    data = np.random.default_rng(0).random((1, 3, 1, 2), dtype=np.float32)
    np.testing.assert_array_equal(run(tr, data)[0], data.reshape(1, 3, 2, 1).transpose(3, 2, 1, 0))
    with pytest.raises(ShapeInferenceError, match="squeeze axis 1 of size 3"):
        make("Squeeze", x.output(0), i64([1]))


def test_concat_and_variadic_split_with_dynamic_dims():
    a, b = f32((None, 2), "a"), f32((None, 3), "b")
    cat = make("Concat", a.output(0), b.output(0), axis=1)
    assert cat.output(0).shape == (None, 5)
    split = make("VariadicSplit", cat.output(0), i64(1), i64([1, -1]))
    assert [p.shape for p in split.outputs] == [(None, 1), (None, 4)]
    x, y = np.ones((3, 2), np.float32), np.zeros((3, 3), np.float32)
    first, rest = run(split, x, y)
    assert first.shape == (3, 1) and rest.shape == (3, 4)


def test_gather_batch_dims_and_negative_indices():
    x = f32((2, 3, 4))
    indices = constant(np.array([[0, -1], [2, 1]], np.int64))
    node = make("Gather", x.output(0), indices, i64(1), batch_dims=1)
    assert node.output(0).shape == (2, 2, 4)
    data = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    expected = np.stack([data[0][[0, 2]], data[1][[2, 1]]])
    np.testing.assert_array_equal(run(node, data)[0], expected)


def test_gather_out_of_range_names_the_node():
    x = f32((3,))
    node = make("Gather", x.output(0), parameter("i", ElementType.i64, (1,)).output(0), i64(0), name="emb")
    model = Model(node.outputs, [x, node.inputs[1].node])
    with pytest.raises(Exception, match="emb.*index 7 is out of range"):
        evaluate(model, [np.zeros(3, np.float32), np.array([7])])


def test_scatter_elements_reductions():
    x = f32((1, 5))
    node = make("ScatterElementsUpdate", x.output(0), i64([[1, 1]]), constant(np.float32([[2, 3]])), i64(1),
                reduction="sum")
    np.testing.assert_array_equal(run(node, np.ones((1, 5), np.float32))[0], [[1, 6, 1, 1, 1]])


def test_slice_and_strided_slice():
    x = f32((4, 6))
    node = make("Slice", x.output(0), i64([-1, 1]), i64([-100, 6]), i64([-1, 2]))
    assert node.output(0).shape == (4, 3)
    data = np.arange(24, dtype=np.float32).reshape(4, 6)
    np.testing.assert_array_equal(run(node, data)[0], data[::-1, 1::2])
    strided = make("StridedSlice", x.output(0), i64([1, 0]), i64([0, 3]), i64([1, 1]),
                   begin_mask=[0, 1], end_mask=[1, 0], shrink_axis_mask=[0, 0], new_axis_mask=[0, 0])
    np.testing.assert_array_equal(run(strided, data)[0], data[1:, :3])


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "symmetric"])
def test_pad_modes_match_numpy(mode):
    x = f32((3, 4))
    node = make("Pad", x.output(0), i64([1, 2]), i64([2, 1]), pad_mode=mode)
    data = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.testing.assert_array_equal(run(node, data)[0], np.pad(data, [(1, 2), (2, 1)], mode=mode))


def test_reductions_keep_dims_and_empty_axes():
    x = f32((2, None, 4))
    node = make("ReduceSum", x.output(0), i64([-1, 0]), keep_dims=True)
    assert node.output(0).shape == (1, None, 1)
    data = np.random.default_rng(1).random((2, 3, 4), dtype=np.float32)
    np.testing.assert_allclose(run(node, data)[0], data.sum(axis=(0, 2), keepdims=True), rtol=1e-6)
    noop = make("ReduceMax", x.output(0), i64([]), keep_dims=False)
    np.testing.assert_array_equal(run(noop, data)[0], data)


def test_topk_is_stable_and_unique_counts():
    x = f32((6,))
    top = make("TopK", x.output(0), i64(3), axis=0, mode="max", sort="value",
               index_element_type=ElementType.i64, stable=True)
    values, indices = run(top, np.float32([1, 3, 3, 0, 3, 2]))
    np.testing.assert_array_equal(values, [3, 3, 3])
    np.testing.assert_array_equal(indices, [1, 2, 4])
    uniq = make("Unique", f32((4,), "y").output(0), sorted=False)
    out, first, inverse, counts = run(uniq, np.float32([2, 1, 2, 3]))
    np.testing.assert_array_equal(out, [2, 1, 3])
    np.testing.assert_array_equal(first, [0, 1, 3])
    np.testing.assert_array_equal(inverse, [0, 1, 0, 2])
    np.testing.assert_array_equal(counts, [2, 1, 1])


def test_range_and_nonzero_shapes():
    node = make("Range", constant(np.float32(1)), constant(np.float32(2)), constant(np.float32(0.25)),
                output_type=ElementType.f32)
    assert node.output(0).shape == (4,)
    np.testing.assert_allclose(evaluate(Model(node.outputs, []), [])[0], [1, 1.25, 1.5, 1.75])
    x = f32((2, 2))
    nz = make("NonZero", x.output(0), output_type=ElementType.i64)
    assert nz.output(0).shape == (2, None)
    np.testing.assert_array_equal(run(nz, np.float32([[0, 1], [2, 0]]))[0], [[0, 1], [1, 0]])


def test_interpolate_linear_half_pixel_upsample():
    x = f32((1, 1, 2, 2))
    node = make("Interpolate", x.output(0), constant(np.float32([2, 2])), i64([2, 3]), mode="linear_onnx",
                shape_calculation_mode="scales", coordinate_transformation_mode="half_pixel")
    assert node.output(0).shape == (1, 1, 4, 4)
    out = run(node, np.float32([[[[1, 2], [3, 4]]]]))[0]
    np.testing.assert_allclose(out[0, 0, 0], [1, 1.25, 1.75, 2])
    np.testing.assert_allclose(out[0, 0, :, 0], [1, 1.5, 2.5, 3])


def test_interpolate_nearest_sizes_asymmetric():
    x = f32((1, 3))
    node = make("Interpolate", x.output(0), i64([6]), i64([1]), mode="nearest",
                shape_calculation_mode="sizes", coordinate_transformation_mode="asymmetric",
                nearest_mode="floor")
    np.testing.assert_array_equal(run(node, np.float32([[1, 2, 3]]))[0], [[1, 1, 2, 2, 3, 3]])


def test_convert_saturates_floats_to_integers():
    x = f32((4,))
    node = make("Convert", x.output(0), destination_type=ElementType.u8)
    np.testing.assert_array_equal(run(node, np.float32([-3.7, 2.9, 300, np.nan]))[0], [0, 2, 255, 0])
