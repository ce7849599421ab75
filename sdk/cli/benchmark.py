"""`kiln benchmark`: latency percentiles and throughput of a model on a device (like benchmark_app).

Runs inferences on random inputs for a number of iterations or seconds, synchronously
(one request: latency) or asynchronously (``-nireq`` requests in flight: throughput),
shows progress while it runs, then prints the first-inference time, latency
median/average/min/max/percentile, throughput and, with ``--pc``, per-layer counters.
"""

from __future__ import annotations

import json
import re
import time

import numpy as np

COMMAND = ("benchmark",)
HELP = "measure latency percentiles and throughput of a model on a device"


def add_arguments(parser) -> None:
    parser.add_argument("model", help="model file (.onnx or .xml), or zoo:NAME for a zoo model")
    parser.add_argument("-d", "--device", default="CPU", help="device (default CPU)")
    parser.add_argument("--api", choices=("sync", "async"), default="sync",
                        help="sync: one request, measures latency; async: -nireq requests, throughput")
    parser.add_argument("-niter", "--iterations", type=int, help="number of inferences")
    parser.add_argument("-t", "--time", type=float, help="seconds to run (default 10 when -niter is absent)")
    parser.add_argument("-nireq", "--requests", type=int, default=0,
                        help="requests in flight for --api async (default: the device's optimal number)")
    parser.add_argument("-shape", "--shape",
                        help="input shape(s): 1,3,224,224 or name[1,3,224,224],other[..]")
    parser.add_argument("-hint", "--hint", choices=("latency", "throughput"),
                        help="performance hint (default: latency for sync, throughput for async)")
    parser.add_argument("-nstreams", "--streams", type=int, help="number of streams")
    parser.add_argument("-nthreads", "--threads", type=int, help="threads per inference")
    parser.add_argument("--percentile", type=float, default=90.0, help="latency percentile to report")
    parser.add_argument("-pc", "--pc", action="store_true", help="print per-layer performance counters")
    parser.add_argument("--pc-clock", choices=("wall", "thread"), default="wall",
                        help="per-layer times: wall clock, or the thread's CPU time (use with -nthreads 1)")
    parser.add_argument("--trace", help="write the last inference's per-layer timeline as a Chrome/Perfetto "
                        "trace (JSON; open in ui.perfetto.dev); implies -pc")
    parser.add_argument("--cache-dir", help="compiled-model cache directory")
    parser.add_argument("--json", help="also write the report to this JSON file")
    parser.add_argument("--no-progress", action="store_true", help="do not show a progress bar")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random inputs")


def parse_shapes(text: str | None, names: list[str]) -> dict[str, list[int]]:
    """Return ``{input name: shape}`` from ``1,3,224,224`` (one input) or ``a[1,3],b[2,4]``."""
    if not text:
        return {}
    named = re.findall(r"([^\[\],]+)\[([\d,\s]*)\]", text)
    if named:
        return {name.strip(): [int(d) for d in dims.split(",") if d.strip()] for name, dims in named}
    if len(names) != 1:
        from kiln.errors import KilnError

        raise KilnError(f"the model has inputs {names}: give shapes as name[d0,d1,...]")
    return {names[0]: [int(d) for d in text.strip("[]").split(",")]}


def random_inputs(model, seed: int) -> dict[str, np.ndarray]:
    """Return one random array per model input: uniform [0, 1) floats, small non-negative integers."""
    from kiln.errors import KilnError

    rng = np.random.default_rng(seed)
    feeds = {}
    for param in model.parameters:
        shape = param.attrs["shape"]
        if shape is None or any(d is None for d in shape):
            raise KilnError(f"input {param.name!r} has a dynamic shape; give --shape")
        dtype = param.attrs["element_type"].numpy
        if dtype.kind == "f":
            feeds[param.name] = rng.random(shape).astype(dtype)
        elif dtype.kind in "iu":
            feeds[param.name] = rng.integers(0, 100, shape).astype(dtype)
        else:
            feeds[param.name] = rng.integers(0, 2, shape).astype(dtype)
    return feeds


def load(spec: str):
    import kiln

    if spec.startswith("zoo:"):
        from kiln import zoo

        return zoo.get(spec[4:])
    return kiln.Core().read_model(spec)


def _progress(total: float | None, unit: str, disabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, disable=disabled, leave=False, dynamic_ncols=True)


def run(args) -> int:
    import kiln
    from kiln.runtime import AsyncInferQueue

    if args.trace:
        args.pc = True
    model = load(args.model)
    shapes = parse_shapes(args.shape, model.input_names)
    if shapes:
        model.reshape(shapes)
    hint = args.hint or ("throughput" if args.api == "async" else "latency")
    config = {"PERFORMANCE_HINT": hint.upper(), "PERF_COUNT": bool(args.pc)}
    if args.pc and args.pc_clock != "wall":
        config["KILN_PERF_CLOCK"] = args.pc_clock
    if args.streams:
        config["NUM_STREAMS"] = args.streams
    if args.threads:
        config["INFERENCE_NUM_THREADS"] = args.threads
    if args.cache_dir:
        config["CACHE_DIR"] = args.cache_dir
    core = kiln.Core()
    start = time.perf_counter()
    compiled = core.compile_model(model, args.device, config)
    compile_ms = (time.perf_counter() - start) * 1e3
    feeds = random_inputs(model, args.seed)
    request = compiled.create_infer_request()
    start = time.perf_counter()
    request.infer(feeds)
    first_ms = (time.perf_counter() - start) * 1e3
    seconds = args.time if args.time is not None else (None if args.iterations else 10.0)
    iterations = args.iterations
    latencies: list[float] = []
    start = time.perf_counter()
    if args.api == "sync":
        bar = _progress(iterations or seconds, "it" if iterations else "s", args.no_progress)
        while True:
            request.infer(feeds)
            latencies.append(request.latency_ms)
            elapsed = time.perf_counter() - start
            bar.update(1 if iterations else min(elapsed, seconds) - bar.n)
            if (iterations and len(latencies) >= iterations) or (seconds and elapsed >= seconds):
                break
        requests = 1
    else:
        queue = AsyncInferQueue(compiled, args.requests)
        requests = len(queue)
        bar = _progress(iterations or seconds, "it" if iterations else "s", args.no_progress)
        queue.set_callback(lambda req, _: latencies.append(req.latency_ms))
        started = 0
        while True:
            elapsed = time.perf_counter() - start
            if (iterations and started >= iterations) or (seconds and elapsed >= seconds):
                break
            queue.start_async(feeds)
            started += 1
            bar.update(1 if iterations else min(elapsed, seconds) - bar.n)
        queue.wait_all()
    total_s = time.perf_counter() - start
    bar.close()
    report = summarize(latencies, total_s, args.percentile)
    report.update({"model": args.model, "device": args.device, "api": args.api, "requests": requests,
                   "hint": hint, "compile_ms": compile_ms, "first_inference_ms": first_ms})
    print_report(report, args.percentile)
    vpu = vpu_summary(compiled)
    if vpu:
        report["vpu"] = vpu
        print_vpu(vpu, args.pc)
    if args.pc:
        counters = request.get_profiling_info() if args.api == "sync" else queue[0].get_profiling_info()
        print_counters(counters)
        report["counters"] = counters
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1, default=str)
    if args.trace:
        write_trace(report.get("counters", []), args.trace, f"{args.model} on {args.device}")
        print(f"trace: {args.trace} (open in https://ui.perfetto.dev)")
    return 0


def vpu_summary(compiled) -> list[dict]:
    """Return, per VPU program the model ran, its simulated cycles, MACs and per-layer rows."""
    executable = compiled.executable
    parts = getattr(executable, "executables", None) or [getattr(executable, "inner", executable)]
    rows = []
    for part in parts:
        stats, program = getattr(part, "last_stats", None), getattr(part, "program", None)
        if stats is None or program is None:
            continue
        dim = program.config.dim
        rows.append({"cycles": stats.cycles, "macs": stats.counters.get("macs", 0), "dim": dim,
                     "clock_mhz": program.config.clock_mhz, "transport": part.transport_kind,
                     "utilisation": stats.counters.get("macs", 0) / max(1, stats.cycles * dim * dim),
                     "layers": part.profiling_info()})
    return rows


def print_vpu(parts: list[dict], per_layer: bool) -> None:
    """Print the VPU's simulated cycles and MAC utilisation of the last inference."""
    cycles = sum(p["cycles"] for p in parts)
    macs = sum(p["macs"] for p in parts)
    dim, clock = parts[0]["dim"], parts[0]["clock_mhz"]
    print(f"VPU ({parts[0]['transport']}, {dim}x{dim} at {clock:g} MHz): {cycles:,} cycles per inference "
          f"({cycles / clock / 1e3:.3f} ms modelled), {macs:,} MACs, "
          f"MAC utilisation {macs / max(1, cycles * dim * dim):.1%}")
    if per_layer:
        print(f"{'VPU layer':40s} {'kind':8s} {'cycles':>12s} {'MACs':>14s} {'util':>6s} {'DMA bytes':>12s}")
        for part in parts:
            for r in part["layers"]:
                print(f"{r['node_name'][:40]:40s} {r['node_type']:8s} {r['cycles']:12,d} {r['macs']:14,d} "
                      f"{r['utilisation']:6.1%} {r['dma_bytes']:12,d}")


def write_trace(counters: list[dict], path: str, title: str) -> None:
    """Write per-layer counters as Chrome trace events: one slice per step, back to back (us)."""
    events = [{"name": "process_name", "ph": "M", "pid": 1, "args": {"name": title}},
              {"name": "thread_name", "ph": "M", "pid": 1, "tid": 1, "args": {"name": "inference"}}]
    start = 0.0
    for c in counters:
        duration = float(c.get("real_time_ms", 0.0)) * 1e3
        events.append({"name": str(c.get("node_type")), "cat": str(c.get("exec_type")), "ph": "X",
                       "ts": start, "dur": duration, "pid": 1, "tid": 1,
                       "args": {"node": c.get("node_name"), "kernel": c.get("exec_type"),
                                "fused_nodes": c.get("fused_nodes", [])}})
        start += duration
    with open(path, "w") as f:
        json.dump({"traceEvents": events, "displayTimeUnit": "ms"}, f)


def summarize(latencies: list[float], total_s: float, percentile: float) -> dict:
    """Return latency statistics (ms) and throughput (inferences per second) of one run."""
    values = np.asarray(latencies, np.float64)
    return {
        "count": len(values), "duration_s": total_s,
        "latency_median_ms": float(np.median(values)), "latency_average_ms": float(values.mean()),
        "latency_min_ms": float(values.min()), "latency_max_ms": float(values.max()),
        f"latency_p{percentile:g}_ms": float(np.percentile(values, percentile)),
        "throughput_fps": len(values) / total_s,
    }


def print_report(report: dict, percentile: float) -> None:
    print(f"model:            {report['model']}  on {report['device']} ({report['api']}, "
          f"{report['requests']} request(s), hint {report['hint']})")
    print(f"compile:          {report['compile_ms']:.1f} ms")
    print(f"first inference:  {report['first_inference_ms']:.2f} ms")
    print(f"count:            {report['count']} iterations in {report['duration_s']:.2f} s")
    print("latency:")
    for key in ("median", "average", "min", "max"):
        print(f"   {key + ':':9s} {report[f'latency_{key}_ms']:10.2f} ms")
    print(f"   {'p' + format(percentile, 'g') + ':':9s} {report[f'latency_p{percentile:g}_ms']:10.2f} ms")
    print(f"throughput:       {report['throughput_fps']:.2f} FPS")


def flatten_counters(counters: list[dict]) -> list[dict]:
    """Return per-layer rows: a HETERO subgraph row (wall time) and, for host devices, its layers."""
    rows = []
    for c in counters:
        if "detail" not in c:
            rows.append(c)
            continue
        rows.append({"node_name": c["name"], "node_type": f"subgraph on {c['device']}",
                     "exec_type": "HETERO", "real_time_ms": c.get("time_ms", 0.0)})
        if c["device"] != "VPU":  # VPU layers are reported in simulated cycles above
            rows += [dict(d, exec_type=f"{d.get('exec_type')} (in {c['name']})") for d in c["detail"]]
    return rows


def print_counters(counters: list[dict]) -> None:
    """Print per-layer counters, slowest first, with each layer's share of the total."""
    counters = flatten_counters(counters)
    subgraphs = [c for c in counters if c.get("exec_type") == "HETERO"]
    if not counters:
        print("no per-layer counters (the device reports none)")
        return
    total = sum(c.get("real_time_ms", 0.0) for c in subgraphs or counters) or 1.0
    print(f"\nper-layer counters (last inference, {total:.2f} ms in {len(counters)} steps):")
    print(f"{'layer':40s} {'type':36s} {'kernel':26s} {'ms':>8s} {'%':>6s}")
    for c in sorted(counters, key=lambda c: -c.get("real_time_ms", 0.0)):
        ms = c.get("real_time_ms", 0.0)
        print(f"{str(c.get('node_name'))[:40]:40s} {str(c.get('node_type'))[:36]:36s} "
              f"{str(c.get('exec_type'))[:26]:26s} {ms:8.3f} {100 * ms / total:6.1f}")
