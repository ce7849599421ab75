"""The GPU plugin: availability, errors, AUTO and HETERO, host fallback, buffer reuse, profiling."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest
from gpu_models import TILE, check, compile_gpu, tiny_cnn, tiny_transformer
from kiln import CompileError, Core, DeviceError, KilnError, quantize
from kiln.drivers.gpu.device import ALLOW_SIMULATOR
from kiln.ir import ElementType, Model, constant, evaluate, make, parameter


def _feed(model, seed=0):
    shape = model.parameters[0].attrs["shape"]
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("build", [tiny_cnn, tiny_transformer])
def test_models_run_whole_on_the_device_with_one_transfer_each_way(build):
    model = build()
    compiled = check(model, [_feed(model)], rtol=1e-4, atol=1e-5)
    ops = [r["operation"] for r in compiled.executable.describe()]
    assert ops.count("upload") == 1 and ops.count("download") == 1 and "host" not in ops
    assert ops[0] == "upload" and ops[-1] == "download"


def test_default_tile_runs_a_model():
    model = tiny_cnn(batch=2)
    check(model, [_feed(model)], rtol=1e-4, atol=1e-5, GPU_TILE=16)


def test_host_fallback_copies_only_at_subgraph_boundaries():
    x = parameter("x", ElementType.f32, (2, 6))
    t = make("MatMul", x.output(0), constant(np.ones((6, 6), np.float32) * 0.1), name="fc1").output(0)
    t = make("Relu", t, name="relu").output(0)
    t = make("Gather", t, constant(np.array([3, 1, 0], np.int64)), constant(np.array(1, np.int64)),
             batch_dims=0, name="pick").output(0)                      # no GPU kernel: runs on the host
    t = make("Sigmoid", t, name="sig").output(0)
    t = make("MatMul", t, constant(np.eye(3, dtype=np.float32)), name="fc2").output(0)
    model = Model([t], [x])
    compiled = check(model, [_feed(model)], rtol=1e-5)
    ops = [(r["operation"], r["node_name"]) for r in compiled.executable.describe()]
    assert ops == [("upload", "upload x"), ("kernel", "relu"), ("download", "download relu"),
                   ("host", "pick"), ("upload", "upload pick"), ("kernel", "sig"), ("kernel", "fc2"),
                   ("download", "download fc2")]
    placed = Core().query_model(model, "GPU")
    assert "pick" not in placed and {"fc1", "relu", "sig", "fc2"} <= set(placed)


def test_host_fallback_off_names_the_nodes_without_kernel():
    x = parameter("x", ElementType.f32, (2, 3))
    t = make("Gather", x.output(0), constant(np.array([1, 0], np.int64)), constant(np.array(0, np.int64)),
             batch_dims=0, name="pick").output(0)
    with pytest.raises(CompileError, match=r"'pick' \(Gather\)"):
        compile_gpu(Model([t], [x]), GPU_HOST_FALLBACK=False)


def test_device_buffers_are_allocated_once_and_shared_by_lifetime():
    model = tiny_cnn()
    compiled = compile_gpu(model)
    executable = compiled.executable
    program = next(iter(executable._programs.values()))
    written = [op for op in program.operations if op.kind in ("upload", "kernel")]
    assert len(program.plan.slot_bytes) < len(written)  # values with disjoint lifetimes share slots
    x = _feed(model)
    first = compiled([x])[0]
    (pool,) = executable._arenas.values()
    arena = pool[0]
    second = compiled([x * 2])[0]
    assert executable._arenas[(tuple(x.shape),)] == [arena]  # the same arena, reused
    np.testing.assert_allclose(second, evaluate(model, [x * 2])[0], rtol=1e-4, atol=1e-5)
    assert not np.array_equal(first, second)


def test_concurrent_inferences_use_separate_arenas():
    model = tiny_cnn()
    compiled = compile_gpu(model)
    feeds = [_feed(model, seed) for seed in range(2)]
    results: dict[int, np.ndarray] = {}

    def work(i):
        results[i] = compiled([feeds[i]])[0]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, x in enumerate(feeds):
        np.testing.assert_allclose(results[i], evaluate(model, [x])[0], rtol=1e-4, atol=1e-5)


def test_dynamic_batch_compiles_per_shape():
    x = parameter("x", ElementType.f32, (None, 4))
    y = make("MatMul", x.output(0), constant(np.eye(4, dtype=np.float32) * 2), name="fc").output(0)
    y = make("Tanh", y, name="act").output(0)
    compiled = compile_gpu(Model([y], [x]))
    for batch in (1, 3):
        feed = _feed(Model([y], [parameter("x", ElementType.f32, (batch, 4))]))
        np.testing.assert_allclose(compiled([feed])[0], np.tanh(feed * 2), rtol=1e-5, atol=1e-6)
    assert len(compiled.executable._programs) == 2


def test_profiling_reports_kernels_transfers_and_device():
    model = tiny_cnn()
    compiled = compile_gpu(model, PERF_COUNT=True)
    compiled([_feed(model)])
    rows = compiled.executable.profiling_info()
    kinds = [r["exec_type"] for r in rows]
    assert kinds[0] == "host_to_device" and kinds[-1] == "device_to_host"
    assert {"cuda_im2col_gemm", "cuda_depthwise", "cuda_gemm_1x1", "cuda_maxpool", "cuda_avgpool",
            "cuda_gemm", "cuda_softmax"} <= set(kinds)
    assert all(r["device"] == "GPU" and r["real_time_ms"] >= 0 for r in rows)


def test_trace_is_perfetto_json_with_kernel_and_copy_tracks(tmp_path):
    model = tiny_transformer()
    compiled = compile_gpu(model)
    with pytest.raises(KilnError, match="PERF_COUNT"):
        compiled.executable.write_trace(str(tmp_path / "none.json"))
    compiled = compile_gpu(model, PERF_COUNT=True)
    compiled([_feed(model)])
    compiled.executable.write_trace(str(tmp_path / "gpu.json"))
    events = json.loads((tmp_path / "gpu.json").read_text())["traceEvents"]
    slices = [e for e in events if e["ph"] == "X"]
    assert {e["tid"] for e in slices} == {1, 2}  # kernels and copies; no host step in this model
    assert all(e["dur"] >= 0 for e in slices) and slices[0]["name"] == "upload input"
    assert any(e["args"]["exec_type"] == "cuda_transpose" for e in slices)


def test_properties_are_checked():
    model = tiny_cnn()
    with pytest.raises(DeviceError, match="GPU_TILE 40"):
        compile_gpu(model, GPU_TILE=40)
    with pytest.raises(DeviceError, match="INFERENCE_PRECISION_HINT"):
        compile_gpu(model, INFERENCE_PRECISION_HINT="f16")
    assert Core().get_property("GPU", "GPU_TILE") == 16


def test_available_and_chosen_by_auto_only_when_a_device_works(monkeypatch, gpu_backend):
    model = tiny_cnn()
    core = Core()
    assert "GPU" in core.available_devices
    assert core.compile_model(model, "AUTO").executable.device in ("VPU", "GPU")
    if gpu_backend != "simulator":
        return
    monkeypatch.delenv(ALLOW_SIMULATOR)
    assert "GPU" not in core.available_devices
    with pytest.raises(DeviceError, match=f"simulator.*{ALLOW_SIMULATOR}=1"):
        core.compile_model(model, "GPU")
    compiled = core.compile_model(model, "AUTO")
    assert compiled.executable.device == "CPU"
    assert "GPU: GPU is not available" in compiled.executable.selection


def test_without_gpu_a_user_gets_a_clear_error_and_auto_picks_another_device(gpu_backend):
    if gpu_backend != "simulator":
        pytest.skip("this machine has a working CUDA GPU")
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_ENABLE_CUDASIM", ALLOW_SIMULATOR)}
    script = textwrap.dedent("""
        import json, sys
        sys.path.insert(0, sys.argv[1])
        import kiln
        from gpu_models import tiny_cnn
        core = kiln.Core()
        report = {"devices": core.available_devices}
        try:
            core.compile_model(tiny_cnn(), "GPU")
        except kiln.DeviceError as error:
            report["error"] = str(error)
        report["auto"] = core.compile_model(tiny_cnn(), "AUTO").executable.device
        print(json.dumps(report))
    """)
    here = os.path.dirname(os.path.abspath(__file__))
    child = subprocess.run([sys.executable, "-c", script, here], env=env, capture_output=True, text=True,
                           timeout=300)
    assert child.returncode == 0, child.stderr
    report = json.loads(child.stdout.strip().splitlines()[-1])
    assert "GPU" not in report["devices"] and "CPU" in report["devices"]
    assert report["error"].startswith("GPU is not available") and "CUDA" in report["error"]
    assert report["auto"] != "GPU"


@pytest.mark.parametrize("build, on_vpu, on_gpu", [
    (lambda: tiny_cnn(reverse_classes=True), ("stem", "dw", "pw", "fc"), ("flatten", "prob")),
    (lambda: tiny_transformer(reverse_tokens=True), ("q", "k", "v", "proj", "ffn1", "ffn2"),
     ("q/t", "softmax", "merge", "ln")),
], ids=["cnn", "transformer"])
def test_hetero_vpu_gpu_cpu_splits_a_quantized_model_and_matches_reference(build, on_vpu, on_gpu):
    model = build()
    rng = np.random.default_rng(0)
    shape = model.parameters[0].attrs["shape"]
    data = [{"input": rng.standard_normal(shape).astype(np.float32)} for _ in range(4)]
    q = quantize(model, data, progress=False)
    core = Core()
    if "VPU" not in core.available_devices:
        pytest.skip("no VPU plugin on this machine")
    compiled = core.compile_model(q, "HETERO:VPU,GPU,CPU", {"GPU_TILE": TILE})
    placement = compiled.executable.placement
    devices = {s.device for s in placement.subgraphs}
    assert devices == {"VPU", "GPU", "CPU"}
    assert {placement.devices[n] for n in on_vpu} == {"VPU"}
    assert {placement.devices[n] for n in on_gpu} == {"GPU"}
    assert placement.devices["reverse"] == "CPU"
    x = data[0]["input"]
    got = compiled({"input": x})[0]
    want = evaluate(q, [x])[0]
    cos = float(np.dot(got.ravel(), want.ravel()) / np.linalg.norm(got) / np.linalg.norm(want))
    assert cos > 0.999
