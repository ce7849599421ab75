"""kiln -> IR file -> kiln is lossless: graph, attributes, constants bit-exact, names, rt_info."""

import functools
import warnings

import ml_dtypes
import numpy as np
import pytest
from kiln.ir import ElementType, Model, constant, evaluate, make, parameter
from kiln.serialize import read_ir, save_ir


def round_trip(model, tmp_path, **options):
    path = tmp_path / "model.xml"
    save_ir(model, path, **options)
    return read_ir(path)


def test_constants_of_every_element_type_are_bit_exact(tmp_path, assert_same_model):
    rng = np.random.default_rng(0)
    values = [
        rng.standard_normal((2, 3)).astype(np.float32),
        np.array([np.nan, -0.0, np.inf, 1e-40], dtype=np.float32),
        rng.standard_normal(5).astype(np.float64),
        rng.standard_normal(4).astype(np.float16),
        rng.standard_normal(4).astype(ml_dtypes.bfloat16),
        np.arange(-4, 4, dtype=np.int8), np.arange(6, dtype=np.uint8).reshape(2, 3),
        np.array([-70000, 5], np.int32), np.array([2**40, -1], np.int64), np.array([7], np.uint64),
        np.array([1, 2], np.int16), np.array([3], np.uint16), np.array([4], np.uint32),
        np.array([True, False, True]), np.float32(2.5), np.zeros((0, 3), np.float32),
        np.array(["ab", "", "naïve ünïcode", "x,y"], dtype=object),
    ]
    results = []
    for i, value in enumerate(values):
        port = constant(value, name=f"c{i}")
        port.names.add(f"tensor{i}")
        results.append(port)
    x = parameter("x", ElementType.f32, (2, 3))
    results.append(make("Add", x.output(0), results[0]).output(0))
    model = Model(results, [x], name="constants")
    back = round_trip(model, tmp_path)
    assert_same_model(model, back)


def test_duplicate_constants_are_stored_once(tmp_path):
    weights = np.arange(1000, dtype=np.float32)
    x = parameter("x", ElementType.f32, (1000,))
    y = make("Add", x.output(0), constant(weights)).output(0)
    y = make("Multiply", y, constant(weights.copy())).output(0)
    save_ir(Model([y], [x]), tmp_path / "m.xml")
    assert (tmp_path / "m.bin").stat().st_size == weights.nbytes


def test_multi_output_dynamic_shapes_names_and_rt_info(tmp_path, assert_same_model):
    x = parameter("x", ElementType.f32, (None, 6, None))
    y = parameter("y", ElementType.i64, None)
    parts = make("Split", x.output(0), constant(np.int64(1)), num_splits=3, name="split")
    top = make("TopK", parts.output(2), constant(np.int64(1)), axis=1, mode="max", sort="value",
               index_element_type=ElementType.i32, name="topk")
    top.output(0).names.update({"values", "a,b"})
    relu = make("Relu", parts.output(0), name="relu")
    relu.rt_info.update({"kiln_fused_into": "conv", "decompression": ""})
    model = Model([relu.output(0), top.output(1), parts.output(1), top.output(0), y.output(0)], [x, y],
                  name="multi")
    model.rt_info.update({"framework/source": "hand-built", "Runtime version": "kiln 0.1"})
    back = round_trip(model, tmp_path)
    assert_same_model(model, back)
    assert back.output_names == model.output_names


def test_compress_to_fp16_stores_half_weights(tmp_path):
    rng = np.random.default_rng(3)
    x = parameter("x", ElementType.f32, (2, 16))
    w = rng.standard_normal((16, 32)).astype(np.float32)
    huge = np.array([1e6], np.float32)  # beyond f16: stays f32
    y = make("MatMul", x.output(0), constant(w)).output(0)
    y = make("Multiply", y, constant(huge)).output(0)
    model = Model([y], [x])
    plain, half = tmp_path / "plain.xml", tmp_path / "half.xml"
    save_ir(model, plain)
    save_ir(model, half, compress_to_fp16=True)
    assert (tmp_path / "half.bin").stat().st_size == w.size * 2 + 4
    back = read_ir(half)
    kinds = [n.type_name for n in back.ordered_nodes()]
    assert kinds.count("Convert") == 1
    convert = next(n for n in back.ordered_nodes() if n.type_name == "Convert")
    assert convert.rt_info == {"decompression": ""} and convert.inputs[0].element_type is ElementType.f16
    feeds = {"x": rng.standard_normal((2, 16)).astype(np.float32)}
    np.testing.assert_allclose(evaluate(back, feeds)[0], evaluate(model, feeds)[0], rtol=2e-2, atol=5e3)
    assert [n.type_name for n in model.ordered_nodes()].count("Convert") == 0, "the model must not change"


@functools.cache
def _all_backend_cases():
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sorted(collect_testcases(), key=lambda c: c.name)


def _backend_cases(every: int):
    return [pytest.param(case, id=case.name) for case in _all_backend_cases()[::every]]


def _round_trip_backend_case(case, tmp_path, assert_same_model):
    from kiln import KilnError, convert_model

    try:
        model = convert_model(case.model)
    except KilnError as error:
        pytest.skip(f"the ONNX frontend does not convert this case: {error}")
    back = round_trip(model, tmp_path)
    assert_same_model(model, back)
    if case.data_sets:
        inputs, _ = case.data_sets[0]
        if len(inputs) == len(model.parameters) and all(isinstance(v, np.ndarray) for v in inputs):
            for want, got in zip(evaluate(model, inputs), evaluate(back, inputs)):
                np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("case", _backend_cases(every=12))
def test_onnx_backend_models_round_trip(case, tmp_path, assert_same_model):
    """A representative twelfth of ONNX's node test models; the slow test runs all."""
    _round_trip_backend_case(case, tmp_path, assert_same_model)


@pytest.mark.slow
@pytest.mark.parametrize("case", _backend_cases(every=1))
def test_all_onnx_backend_models_round_trip(case, tmp_path, assert_same_model):
    _round_trip_backend_case(case, tmp_path, assert_same_model)
