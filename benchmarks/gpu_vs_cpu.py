"""Latency of Kiln's GPU device against Kiln's CPU device and onnxruntime, same models, batch 1, f32.

    .venv/bin/python benchmarks/gpu_vs_cpu.py                        # needs a CUDA GPU
    .venv/bin/python benchmarks/gpu_vs_cpu.py --models resnet50 --runs 50 --json gpu.json

Models: ResNet-50 and SqueezeNet from ONNX's "light" model zoo (shipped inside the
onnx package), Kiln zoo's MobileNetV2 block and BERT encoder layer. Every engine
gets the same ONNX model and input. onnxruntime uses its CUDA execution provider
when it has one (the row says which provider ran). Rounds are interleaved (one
inference of each engine in turn). Prints median latency per engine, the GPU's
speed-up over each peer, and the GPU's worst relative error against the CPU device.

Without a working CUDA GPU it prints why and exits with status 2: numba's CUDA
simulator runs kernels on the CPU thousands of times slower, so its timings
would mean nothing.

    .venv/bin/python benchmarks/gpu_vs_cpu.py --plan               # no GPU needed

prints instead what the GPU device compiles each model into: kernels, views, host
steps, host<->device transfers per inference, and the device memory of one buffer
arena against one buffer per value. Compiling runs no kernel, so this uses numba's
CUDA simulator as the device: the plan is the same on a GPU.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import onnx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cpu_vs_peers import graph_inputs, load_proto  # noqa: E402  (the sibling script's model loading)

LIGHT = ("resnet50", "squeezenet")
ZOO = ("mobilenet_v2_block", "transformer_layer")
ENGINES = ("kiln-gpu", "kiln-cpu", "onnxruntime")


def kiln_runner(device: str):
    def build(proto: onnx.ModelProto):
        import kiln

        compiled = kiln.Core().compile_model(kiln.convert_model(proto), device)
        return lambda feeds: compiled(feeds).to_list(), device
    return build


def ort_runner(proto: onnx.ModelProto):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider")
                 if p in ort.get_available_providers()]
    session = ort.InferenceSession(proto.SerializeToString(), options, providers=providers)
    return (lambda feeds: session.run(None, feeds)), session.get_providers()[0]


RUNNERS = {"kiln-gpu": kiln_runner("GPU"), "kiln-cpu": kiln_runner("CPU"), "onnxruntime": ort_runner}


def measure(name: str, runs: int, warmup: int, engines: list[str], seed: int) -> dict:
    """Return median/min latency (ms) per engine and the GPU's worst relative error against the CPU."""
    proto = load_proto(name)
    feeds = graph_inputs(proto, seed)
    runners, outputs, result = {}, {}, {"model": name, "inputs": {k: list(v.shape) for k, v in feeds.items()}}
    for engine in engines:
        start = time.perf_counter()
        runners[engine], backend = RUNNERS[engine](proto)
        outputs[engine] = runners[engine](feeds)
        result[engine] = {"backend": backend, "first_ms": (time.perf_counter() - start) * 1e3}
    for _ in range(warmup):
        for engine in engines:
            runners[engine](feeds)
    times = {engine: [] for engine in engines}
    for _ in range(runs):
        for engine in engines:
            start = time.perf_counter()
            runners[engine](feeds)
            times[engine].append((time.perf_counter() - start) * 1e3)
    for engine in engines:
        result[engine].update(median_ms=float(np.median(times[engine])), min_ms=float(np.min(times[engine])))
    if "kiln-gpu" in engines and "kiln-cpu" in engines:
        errors = []
        for ours, theirs in zip(outputs["kiln-gpu"], outputs["kiln-cpu"]):
            scale = float(np.abs(theirs).max()) or 1.0
            errors.append(float(np.abs(np.asarray(ours) - theirs).max()) / scale)
        result["gpu_vs_cpu_max_rel_error"] = max(errors)
    return result


def print_table(results: list[dict], engines: list[str], device: str) -> None:
    print(f"GPU: {device}   host: {platform.processor() or platform.machine()}")
    head = f"{'model':<20}" + "".join(f"{e + ' ms':>16}" for e in engines)
    peers = [e for e in engines if e != "kiln-gpu"]
    if "kiln-gpu" in engines:
        head += "".join(f"{'x vs ' + e:>18}" for e in peers) + f"{'rel err':>10}"
    print(head)
    for r in results:
        line = f"{r['model']:<20}" + "".join(f"{r[e]['median_ms']:>16.2f}" for e in engines)
        if "kiln-gpu" in engines:
            gpu = r["kiln-gpu"]["median_ms"]
            line += "".join(f"{r[e]['median_ms'] / gpu:>18.2f}" for e in peers)
            line += f"{r.get('gpu_vs_cpu_max_rel_error', float('nan')):>10.1e}"
        print(line)
    for engine in engines:
        print(f"  {engine}: {results[0][engine]['backend']}" if results else "")


def print_plans(models: list[str]) -> None:
    """Compile each model for the GPU (on numba's CUDA simulator) and print its device plan."""
    import os

    from numba.core import config

    if "numba.cuda" not in sys.modules:
        config.ENABLE_CUDASIM = True
    os.environ["KILN_GPU_ALLOW_CUDASIM"] = "1"
    import kiln

    mib = 1 << 20
    print(f"{'model':<20}{'kernels':>8}{'views':>6}{'host':>5}{'up':>4}{'down':>5}{'values':>7}"
          f"{'slots':>6}{'arena MiB':>10}{'unshared MiB':>13}{'workspace MiB':>14}")
    for name in models:
        compiled = kiln.Core().compile_model(kiln.convert_model(load_proto(name)), "GPU")
        program = next(iter(compiled.executable._programs.values()))
        s = program.summary()
        print(f"{name:<20}{s['kernel']:>8}{s['view']:>6}{s['host']:>5}{s['upload']:>4}{s['download']:>5}"
              f"{s['device_values']:>7}{s['slots']:>6}{s['arena_bytes'] / mib:>10.2f}"
              f"{s['unshared_bytes'] / mib:>13.2f}{s['workspace_bytes'] / mib:>14.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(LIGHT + ZOO), choices=LIGHT + ZOO)
    parser.add_argument("--engines", nargs="+", default=list(ENGINES), choices=list(ENGINES))
    parser.add_argument("--runs", type=int, default=30, help="timed inferences per engine and model")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="write the results to this JSON file")
    parser.add_argument("--plan", action="store_true",
                        help="print the compiled device plan of each model instead (no GPU needed)")
    args = parser.parse_args(argv)
    if args.plan:
        print_plans(args.models)
        return 0
    from kiln.drivers.gpu import device

    reason = device.unavailable_reason()
    if reason is not None and "kiln-gpu" in args.engines:
        print(f"gpu_vs_cpu: nothing measured. {reason}.\nRun this benchmark on a machine with a CUDA GPU "
              "(numba.cuda must find it: an NVIDIA driver and the CUDA runtime libraries).", file=sys.stderr)
        return 2
    from tqdm import tqdm

    name = device.describe() if reason is None else "none"
    results = [measure(m, args.runs, args.warmup, args.engines, args.seed)
               for m in tqdm(args.models, desc="models", leave=False)]
    print_table(results, args.engines, name)
    if args.json:
        Path(args.json).write_text(json.dumps({"gpu": name, "host": platform.platform(),
                                               "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
