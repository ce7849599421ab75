"""Side-by-side latency of Kiln CPU, onnxruntime and OpenVINO (f32) on the same models, batch 1.

    .venv/bin/python benchmarks/cpu_vs_peers.py                 # all models, 30 runs each
    .venv/bin/python benchmarks/cpu_vs_peers.py --models resnet50 --runs 50 --json out.json

Models: ResNet-50, SqueezeNet and ShuffleNet from ONNX's "light" model zoo (shipped
inside the onnx package), and Kiln zoo's MobileNetV2 block and BERT encoder layer.
Every engine gets the same ONNX file and input; OpenVINO runs with
INFERENCE_PRECISION_HINT=f32 so all three compute in f32. Each engine runs in its own
process (so no engine's thread pool shares a process with another's); rounds are
interleaved (a burst of ``--burst`` back-to-back inferences of each engine in turn,
after a 50 ms pause that lets the previous engine's spinning workers fall asleep) so
that load from other processes hits all three alike. Prints median and best latency
and CPU time per inference for each engine, the speed ratios (peer ms / Kiln ms, above
1 means Kiln is faster) and their geometric mean, and checks that Kiln's outputs match
onnxruntime's. CPU time counts every thread of the engine's process: compare it with
``--threads 1``, where it measures each engine's work independently of other load on
the machine.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from pathlib import Path

import numpy as np
import onnx

LIGHT = ("resnet50", "squeezenet", "shufflenet")
ZOO = ("mobilenet_v2_block", "transformer_layer")


def light_model(name: str) -> Path:
    return Path(onnx.__file__).parent / "backend" / "test" / "data" / "light" / f"light_{name}.onnx"


def load_proto(name: str) -> onnx.ModelProto:
    if name in LIGHT:
        return onnx.load(str(light_model(name)))
    from kiln import zoo

    return zoo.onnx_model(name)


def graph_inputs(proto: onnx.ModelProto, seed: int) -> dict[str, np.ndarray]:
    """Return random inputs for the graph inputs that are not initializers."""
    rng = np.random.default_rng(seed)
    initializers = {i.name for i in proto.graph.initializer}
    feeds = {}
    for value in proto.graph.input:
        if value.name in initializers:
            continue
        shape = [d.dim_value or 1 for d in value.type.tensor_type.shape.dim]
        if value.type.tensor_type.elem_type == onnx.TensorProto.INT64:
            feeds[value.name] = rng.integers(0, 1000, shape).astype(np.int64)
        else:
            feeds[value.name] = rng.random(shape).astype(np.float32)
    return feeds


def kiln_runner(proto: onnx.ModelProto, threads: int):
    import kiln

    config = {"PERFORMANCE_HINT": "LATENCY"}
    if threads:
        config["INFERENCE_NUM_THREADS"] = threads
    compiled = kiln.Core().compile_model(kiln.convert_model(proto), "CPU", config)
    return lambda feeds: compiled(feeds).to_list()


def ort_runner(proto: onnx.ModelProto, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
    session = ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return lambda feeds: session.run(None, feeds)


def openvino_runner(proto: onnx.ModelProto, threads: int):
    import openvino as ov

    core = ov.Core()
    model = core.read_model(proto.SerializeToString())
    config = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"}
    if threads:
        config["INFERENCE_NUM_THREADS"] = threads
    compiled = core.compile_model(model, "CPU", config)
    request = compiled.create_infer_request()

    def run(feeds):
        request.infer(feeds)
        return [request.get_output_tensor(i).data.copy() for i in range(len(compiled.outputs))]
    return run


ENGINES = {"kiln": kiln_runner, "onnxruntime": ort_runner, "openvino": openvino_runner}


SETTLE_S = 0.05
"""Pause before each engine's burst: onnxruntime's, OpenVINO's and Kiln's workers spin for a while
after an inference, and would otherwise compete with the next engine's."""


def engine_process(connection, engine: str, name: str, threads: int, seed: int) -> None:
    """Serve one engine on one model in its own process: answer ("burst", n) with n timings.

    Each engine owns its process, so no engine's thread pool shares a process (or a
    lingering idle thread) with another's; the parent interleaves their bursts in time.
    """
    proto = load_proto(name)
    feeds = graph_inputs(proto, seed)
    start = time.perf_counter()
    runner = ENGINES[engine](proto, threads)
    first = time.perf_counter()
    outputs = runner(feeds)
    connection.send({"compile_ms": (first - start) * 1e3, "first_ms": (time.perf_counter() - first) * 1e3,
                     "outputs": [np.asarray(o) for o in outputs]})
    while True:
        command, count = connection.recv()
        if command == "stop":
            return
        timings = []
        for _ in range(count):
            start, start_cpu = time.perf_counter(), time.process_time()
            runner(feeds)
            timings.append(((time.perf_counter() - start) * 1e3, (time.process_time() - start_cpu) * 1e3))
        connection.send(timings)


def measure(name: str, runs: int, warmup: int, threads: int, engines: list[str], seed: int,
            burst: int = 5) -> dict:
    """Return median/min latency (ms) per engine and Kiln's worst relative error against onnxruntime."""
    context = multiprocessing.get_context("spawn")
    workers = {}
    for engine in engines:
        parent, child = context.Pipe()
        process = context.Process(target=engine_process, args=(child, engine, name, threads, seed),
                                  daemon=True)
        process.start()
        workers[engine] = (process, parent)
    try:
        ready = {engine: connection.recv() for engine, (_, connection) in workers.items()}
        for _, connection in workers.values():
            connection.send(("burst", warmup))
            connection.recv()
        times = {engine: [] for engine in engines}
        cpu = {engine: [] for engine in engines}
        for _ in range(-(-runs // burst)):
            for engine, (_, connection) in workers.items():
                time.sleep(SETTLE_S)  # the previous engine's spinning workers go to sleep first
                connection.send(("burst", burst))
                for wall, used in connection.recv():
                    times[engine].append(wall)
                    cpu[engine].append(used)
    finally:
        for process, connection in workers.values():
            if process.is_alive():
                connection.send(("stop", 0))
            process.join(timeout=30)
    inputs = graph_inputs(load_proto(name), seed)
    result = {"model": name, "inputs": {k: list(v.shape) for k, v in inputs.items()}}
    for engine in engines:
        result[engine] = {"median_ms": float(np.median(times[engine])),
                          "min_ms": float(np.min(times[engine])), "cpu_ms": float(np.mean(cpu[engine])),
                          "compile_ms": ready[engine]["compile_ms"], "first_ms": ready[engine]["first_ms"]}
    if "kiln" in engines and "onnxruntime" in engines:
        errors = []
        for ours, theirs in zip(ready["kiln"]["outputs"], ready["onnxruntime"]["outputs"]):
            scale = float(np.abs(theirs).max()) or 1.0
            errors.append(float(np.abs(ours - theirs).max()) / scale)
        result["kiln_vs_onnxruntime_max_rel_error"] = max(errors)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(LIGHT + ZOO), choices=LIGHT + ZOO)
    parser.add_argument("--engines", nargs="+", default=list(ENGINES), choices=list(ENGINES))
    parser.add_argument("--runs", type=int, default=30, help="timed inferences per engine and model")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--burst", type=int, default=5,
                        help="back-to-back inferences of one engine before the next engine's turn")
    parser.add_argument("--threads", type=int, default=0, help="threads per engine (0: its default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="write the results to this JSON file")
    args = parser.parse_args(argv)
    from tqdm import tqdm

    results = []
    for name in tqdm(args.models, desc="models", leave=False):
        results.append(measure(name, args.runs, args.warmup, args.threads, args.engines, args.seed,
                               args.burst))
    print_table(results, args.engines)
    if args.json:
        Path(args.json).write_text(json.dumps({"cpus": len(os.sched_getaffinity(0)), "results": results},
                                              indent=1))
    return 0


def print_table(results: list[dict], engines: list[str]) -> None:
    """Print median and best latencies, peer/Kiln speed ratios and their geometric means."""
    for statistic, title in (("median_ms", "median latency"), ("min_ms", "best latency"),
                             ("cpu_ms", "CPU time of the process per inference")):
        print(f"\n{title} (ms), batch 1:")
        print_ratios(results, engines, statistic)


def print_ratios(results: list[dict], engines: list[str], statistic: str) -> None:
    peers = [e for e in engines if e != "kiln"]
    head = f"{'model':20s}" + "".join(f"{e:>16s}" for e in engines)
    if "kiln" in engines:
        head += "".join(f"{'kiln speed vs ' + p[:4]:>20s}" for p in peers) + f"{'max rel err':>13s}"
    print(head)
    ratios: dict[str, list[float]] = {p: [] for p in peers}
    for r in results:
        line = f"{r['model']:20s}" + "".join(f"{r[e][statistic]:16.2f}" for e in engines)
        if "kiln" in engines:
            for p in peers:
                ratio = r[p][statistic] / r["kiln"][statistic]
                ratios[p].append(ratio)
                line += f"{ratio:19.2f}x"
            line += f"{r.get('kiln_vs_onnxruntime_max_rel_error', float('nan')):13.1e}"
        print(line)
    if "kiln" in engines and results:
        line = f"{'geometric mean':20s}" + " " * 16 * len(engines)
        for p in peers:
            line += f"{float(np.exp(np.mean(np.log(ratios[p])))):19.2f}x"
        print(line)


if __name__ == "__main__":
    sys.exit(main())
