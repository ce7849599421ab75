"""Kiln's IR files of the tensor ops run in the real OpenVINO runtime and match Kiln's references."""

import numpy as np
import pytest
from kiln import save_model
from kiln.ir import ElementType, Model, constant, evaluate, make, parameter

ov = pytest.importorskip("openvino")

pytestmark = pytest.mark.interop


def i64(values):
    return constant(np.asarray(values, np.int64))


def f32(values):
    return constant(np.asarray(values, np.float32))


GRID = np.random.default_rng(0).uniform(-1.2, 1.2, (2, 3, 3, 2)).astype(np.float32)

CASES = {
    "Reshape": lambda x: make("Reshape", x, i64([0, -1, 4]), special_zero=True),
    "Squeeze": lambda x: make("Squeeze", make("Unsqueeze", x, i64([0])).output(0), i64([0])),
    "Transpose": lambda x: make("Transpose", x, i64([3, 0, 2, 1])),
    "Concat": lambda x: make("Concat", x, x, axis=-1),
    "Split": lambda x: make("Split", x, i64(2), num_splits=2),
    "VariadicSplit": lambda x: make("VariadicSplit", x, i64(2), i64([1, -1])),
    "ShapeOf": lambda x: make("ShapeOf", x, output_type=ElementType.i32),
    "Broadcast": lambda x: make("Broadcast", f32([1, 2, 3, 4]), i64([2, 3, 4]), mode="numpy"),
    "Tile": lambda x: make("Tile", x, i64([1, 2, 1, 1])),
    "Pad": lambda x: make("Pad", x, i64([0, 0, 1, 2]), i64([0, 0, 2, 1]), pad_mode="reflect"),
    "SpaceToDepth": lambda x: make("SpaceToDepth", x, mode="blocks_first", block_size=2),
    "DepthToSpace": lambda x: make("DepthToSpace", make("Concat", x, x, x, x, axis=1).output(0),
                                   mode="depth_first", block_size=2),
    "ReverseSequence": lambda x: make("ReverseSequence", x, i64([2, 4]), batch_axis=0, seq_axis=2),
    "Reverse": lambda x: make("Reverse", x, i64([1, 3]), mode="index"),
    "Roll": lambda x: make("Roll", x, i64([1, -2]), i64([2, 3])),
    "Slice": lambda x: make("Slice", x, i64([3, 1]), i64([-100, 4]), i64([-1, 2]), i64([3, 1])),
    "StridedSlice": lambda x: make("StridedSlice", x, i64([0, 1]), i64([2, 3]), i64([1, 1]),
                                   begin_mask=[0, 0], end_mask=[0, 0]),
    "Gather": lambda x: make("Gather", x, i64([[0, -1], [1, 1]]), i64(1)),
    "GatherElements": lambda x: make("GatherElements", x, constant(np.zeros((2, 3, 4, 4), np.int64)), axis=2),
    "GatherND": lambda x: make("GatherND", x, i64([[1, 2], [0, 0]]), batch_dims=0),
    "ScatterUpdate": lambda x: make("ScatterUpdate", x, i64([1]), make("Slice", x, i64([0]), i64([1]),
                                                                       i64([1]), i64([1])).output(0), i64(1)),
    "ScatterElementsUpdate": lambda x: make("ScatterElementsUpdate", x, constant(np.zeros((2, 3, 4, 4),
                                                                                          np.int64)),
                                            x, i64(0), reduction="sum", use_init_val=True),
    "ScatterNDUpdate": lambda x: make("ScatterNDUpdate", x, i64([[1, 0], [0, 2]]), f32(np.ones((2, 4, 4)))),
    "Select": lambda x: make("Select", constant(np.array([True, False, True, False])), x, f32(0)),
    "ReduceMean": lambda x: make("ReduceMean", x, i64([2, 3]), keep_dims=True),
    "ReduceL2": lambda x: make("ReduceL2", x, i64([-1]), keep_dims=False),
    "Convert": lambda x: make("Convert", x, destination_type=ElementType.i32),
    "Range": lambda x: make("Range", f32(0), f32(3), f32(0.5), output_type=ElementType.f32),
    "Eye": lambda x: make("Eye", i64(3), i64(4), i64(1), output_type=ElementType.f32),
    "OneHot": lambda x: make("OneHot", i64([0, 2, -1]), i64(3), f32(1), f32(0), axis=-1,
                             negative_indices_mode="normalize"),
    "TopK": lambda x: make("TopK", x, i64(2), axis=3, mode="max", sort="value",
                           index_element_type=ElementType.i64, stable=True),
    "NonZero": lambda x: make("NonZero", x, output_type=ElementType.i64),
    "CumSum": lambda x: make("CumSum", x, i64(1), exclusive=True, reverse=True),
    "Bucketize": lambda x: make("Bucketize", x, f32([0.25, 0.5, 0.75]), output_type=ElementType.i64),
    "InterpolateLinear": lambda x: make("Interpolate", x, f32([2, 1.5]), i64([2, 3]), mode="linear_onnx",
                                        shape_calculation_mode="scales"),
    "InterpolateNearest": lambda x: make("Interpolate", x, i64([8, 6]), i64([2, 3]), mode="nearest",
                                         shape_calculation_mode="sizes", nearest_mode="floor",
                                         coordinate_transformation_mode="asymmetric"),
    "InterpolateCubic": lambda x: make("Interpolate", x, f32([1.5, 1.5]), i64([2, 3]), mode="cubic",
                                       shape_calculation_mode="scales"),
    "GridSample": lambda x: make("GridSample", x, constant(GRID), mode="bilinear", padding_mode="border"),
    "RDFT": lambda x: make("RDFT", x, i64([3])),
    "DFT": lambda x: make("DFT", make("Reshape", x, i64([2, 3, 8, 2]), special_zero=False).output(0),
                          i64([2])),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_openvino_runs_the_saved_ir_like_the_reference(name, tmp_path):
    x = parameter("x", ElementType.f32, (2, 3, 4, 4))
    node = CASES[name](x.output(0))
    model = Model([node.output(0)], [x], name=name)
    save_model(model, tmp_path / "m.xml")
    compiled = ov.Core().compile_model(ov.Core().read_model(tmp_path / "m.xml"), "CPU",
                                       {"INFERENCE_PRECISION_HINT": "f32"})
    data = np.random.default_rng(1).random((2, 3, 4, 4), dtype=np.float32)
    got = compiled({0: data})[0]
    want = evaluate(model, [data])[0]
    assert got.shape == want.shape
    np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=1e-4, atol=1e-5)
