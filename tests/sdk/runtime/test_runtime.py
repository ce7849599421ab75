"""The runtime API: sync/async requests, AsyncInferQueue, concurrency, properties, profiling,
export/import, the compiled-model cache and dynamic shapes."""

from __future__ import annotations

import io
import threading
import time

import kiln
import numpy as np
import pytest
from kiln.ir import ElementType, Model, constant, evaluate, make, parameter
from kiln.runtime import AsyncInferQueue

F32 = ElementType.f32


def small_cnn(batch=1, seed=0) -> Model:
    rng = np.random.default_rng(seed)
    x = parameter("image", F32, (batch, 3, 12, 12))
    w = constant((0.3 * rng.standard_normal((8, 3, 3, 3))).astype(np.float32))
    y = make("Convolution", x.output(0), w, strides=[1, 1], dilations=[1, 1], pads_begin=[1, 1],
             pads_end=[1, 1]).output(0)
    y = make("Relu", make("Add", y, constant(rng.standard_normal((1, 8, 1, 1)).astype(np.float32))).output(0))
    y = make("MaxPool", y.output(0), strides=[2, 2], pads_begin=[0, 0], pads_end=[0, 0],
             kernel=[2, 2]).output(0)
    y = make("Reshape", y, constant(np.array([-1, 288], np.int64)), special_zero=False).output(0)
    y = make("MatMul", y, constant((0.05 * rng.standard_normal((288, 10))).astype(np.float32))).output(0)
    y = make("Softmax", y, axis=-1)
    y.output_names[0].add("probabilities")
    return Model([y.output(0)], [x], name="small_cnn")


@pytest.fixture(scope="module")
def model():
    return small_cnn()


@pytest.fixture(scope="module")
def compiled(model):
    return kiln.Core().compile_model(model, "CPU", {"PERF_COUNT": True})


def images(n, seed=1):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((1, 3, 12, 12)).astype(np.float32) for _ in range(n)]


def test_sync_results_by_name_position_and_port(model, compiled):
    x = images(1)[0]
    out = compiled({"image": x})
    want = evaluate(model, [x])[0]
    np.testing.assert_allclose(out["probabilities"], want, rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(out[0], out[compiled.output(0)])
    assert compiled([x])[0].shape == (1, 10)


def test_async_request_with_callback(model, compiled):
    x = images(1)[0]
    request = compiled.create_infer_request()
    seen = []
    request.set_callback(lambda userdata: seen.append(userdata), "done")
    request.start_async({"image": x})
    assert request.wait()
    np.testing.assert_allclose(request.results[0], evaluate(model, [x])[0], rtol=1e-4, atol=1e-6)
    assert seen == ["done"]
    assert request.latency_ms > 0


def test_async_error_is_raised_by_wait(compiled):
    request = compiled.create_infer_request()
    request.start_async({"image": np.zeros((2, 2), np.float32)})
    with pytest.raises(kiln.InferenceInputError, match="image"):
        request.wait()


def test_concurrent_requests_give_identical_results(model):
    compiled = kiln.Core().compile_model(model, "CPU", {"PERFORMANCE_HINT": "THROUGHPUT", "NUM_STREAMS": 4})
    inputs = images(6)
    expected = [compiled(x)[0].copy() for x in inputs]
    results: dict[tuple[int, int], np.ndarray] = {}
    errors = []

    def worker(thread: int):
        try:
            for rep in range(5):
                for i, x in enumerate(inputs):
                    results[(thread, rep * 10 + i)] = compiled(x)[0]
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 4 * 5 * len(inputs)
    for (_thread, key), value in results.items():
        np.testing.assert_array_equal(value, expected[key % 10])


def test_async_infer_queue_runs_every_job_once(model):
    compiled = kiln.Core().compile_model(model, "CPU", {"PERFORMANCE_HINT": "THROUGHPUT"})
    queue = AsyncInferQueue(compiled, 3)
    inputs = images(12)
    got = {}
    lock = threading.Lock()

    def done(request, index):
        with lock:
            got[index] = request.results[0].copy()

    queue.set_callback(done)
    for i, x in enumerate(inputs):
        queue.start_async({"image": x}, i)
    queue.wait_all()
    assert sorted(got) == list(range(12))
    for i, x in enumerate(inputs):
        np.testing.assert_allclose(got[i], evaluate(model, [x])[0], rtol=1e-4, atol=1e-6)
    assert queue.is_ready() and len(queue) == 3


def test_async_infer_queue_reports_errors(compiled):
    queue = AsyncInferQueue(compiled, 2)
    queue.start_async({"image": np.zeros((1, 3, 5, 5), np.float32)})
    with pytest.raises(kiln.InferenceInputError):
        queue.wait_all()


def test_profiling_info_names_every_fused_step(compiled):
    request = compiled.create_infer_request()
    request.infer({"image": images(1)[0]})
    info = request.get_profiling_info()
    assert [row["node_type"] for row in info][0] == "Convolution+Add+Relu"
    assert all(row["real_time_ms"] >= 0 and row["exec_type"] for row in info)


def test_properties_and_errors():
    core = kiln.Core()
    assert core.get_property("CPU", "PERFORMANCE_HINT") == "LATENCY"
    core.set_property("CPU", {"PERFORMANCE_HINT": "THROUGHPUT"})
    compiled = core.compile_model(small_cnn(), "CPU")
    assert compiled.get_property("PERFORMANCE_HINT") == "THROUGHPUT"
    assert compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS") >= 1
    with pytest.raises(kiln.DeviceError, match="NO_SUCH"):
        compiled.get_property("NO_SUCH")
    with pytest.raises(kiln.DeviceError, match="PERFORMANCE_HINT"):
        core.compile_model(small_cnn(), "CPU", {"PERFORMANCE_HINT": "FASTEST"})
    with pytest.raises(kiln.DeviceError, match="bf16"):
        core.compile_model(small_cnn(), "CPU", {"INFERENCE_PRECISION_HINT": "bf16"})


def test_export_import_round_trip(model, compiled):
    blob = compiled.export_model()
    restored = kiln.Core().import_model(blob)
    x = images(1)[0]
    np.testing.assert_array_equal(restored(x)[0], compiled(x)[0])
    assert restored.get_property("PERF_COUNT") is True
    stream = io.BytesIO()
    compiled.export_model(stream)
    stream.seek(0)
    np.testing.assert_array_equal(kiln.Core().import_model(stream, "CPU")(x)["probabilities"], compiled(x)[0])


def test_import_rejects_garbage():
    with pytest.raises(kiln.ModelFormatError, match="magic"):
        kiln.Core().import_model(b"not a model")
    blob = kiln.Core().compile_model(small_cnn(), "CPU").export_model()
    with pytest.raises(kiln.ModelFormatError, match="truncated"):
        kiln.Core().import_model(blob[:-10])


def test_cache_dir_makes_second_compile_load_the_entry(tmp_path, model):
    core = kiln.Core()
    core.set_property({"CACHE_DIR": str(tmp_path)})
    first = core.compile_model(model, "CPU")
    entries = list(tmp_path.glob("*.kilnblob"))
    assert len(entries) == 1
    start = time.perf_counter()
    second = core.compile_model(small_cnn(), "CPU")  # the same model, built again
    assert time.perf_counter() - start < 5.0
    assert list(tmp_path.glob("*.kilnblob")) == entries
    x = images(1)[0]
    np.testing.assert_array_equal(first(x)[0], second(x)[0])
    core.compile_model(small_cnn(seed=5), "CPU")
    assert len(list(tmp_path.glob("*.kilnblob"))) == 2


def test_dynamic_batch_compiles_per_shape():
    model = small_cnn()
    model.reshape({"image": (None, 3, 12, 12)})
    compiled = kiln.Core().compile_model(model, "CPU")
    for batch in (1, 3):
        x = np.random.default_rng(batch).standard_normal((batch, 3, 12, 12)).astype(np.float32)
        want = evaluate(small_cnn(batch=batch), [x])[0]
        got = compiled(x)[0]
        assert got.shape == (batch, 10)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


def test_wrong_inputs_name_the_input(compiled):
    with pytest.raises(kiln.InferenceInputError, match="image"):
        compiled({"image": np.zeros((1, 3, 11, 12), np.float32)})
    with pytest.raises(kiln.KilnError, match="nope"):
        compiled({"nope": np.zeros((1, 3, 12, 12), np.float32)})


def test_profiling_by_thread_cpu_time(model):
    compiled = kiln.Core().compile_model(model, "CPU", {"PERF_COUNT": True, "KILN_PERF_CLOCK": "thread",
                                                        "INFERENCE_NUM_THREADS": 1})
    request = compiled.create_infer_request()
    request.infer({"image": images(1)[0]})
    assert sum(row["real_time_ms"] for row in request.get_profiling_info()) > 0
    with pytest.raises(kiln.CompileError, match="clock"):
        kiln.Core().compile_model(model, "CPU", {"PERF_COUNT": True, "KILN_PERF_CLOCK": "sundial"})
