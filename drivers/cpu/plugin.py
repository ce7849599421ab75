"""The CPU plugin: compiles models into fused numba/BLAS kernels; every IR op runs.

Ops without a fast kernel run their numpy reference inside the same schedule.
"""

from __future__ import annotations

import os

from kiln.drivers.cpu.executable import CpuExecutable
from kiln.drivers.plugin import Plugin
from kiln.errors import DeviceError

PROPERTIES = {
    "PERFORMANCE_HINT": "LATENCY",
    "INFERENCE_NUM_THREADS": 0,
    "NUM_STREAMS": 1,
    "PERF_COUNT": False,
    "INFERENCE_PRECISION_HINT": "f32",
    "CACHE_DIR": "",
    "KILN_PERF_CLOCK": "wall",
}
"""Properties the CPU understands and their defaults (OpenVINO's names and meanings)."""


def cpu_count() -> int:
    """Return the number of CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def streams_and_threads(properties) -> tuple[int, int]:
    """Return (streams, threads per stream) from the hint, NUM_STREAMS and INFERENCE_NUM_THREADS.

    LATENCY: one stream using every core. THROUGHPUT: one stream per core, one
    thread each, unless NUM_STREAMS / INFERENCE_NUM_THREADS say otherwise.
    """
    cores = cpu_count()
    hint = str(properties.get("PERFORMANCE_HINT", "LATENCY")).upper()
    if hint not in ("LATENCY", "THROUGHPUT", "CUMULATIVE_THROUGHPUT", "UNDEFINED", ""):
        raise DeviceError(f"CPU: PERFORMANCE_HINT {hint!r} is not LATENCY or THROUGHPUT")
    default_streams = cores if hint in ("THROUGHPUT", "CUMULATIVE_THROUGHPUT") else 1
    streams = properties.get("NUM_STREAMS")
    streams = default_streams if streams in (None, "AUTO", "", 0) else int(streams)
    threads = int(properties.get("INFERENCE_NUM_THREADS") or 0) or max(cores // max(streams, 1), 1)
    if streams < 1 or threads < 1:
        raise DeviceError(f"CPU: NUM_STREAMS={streams} and INFERENCE_NUM_THREADS={threads} must be >= 1")
    return streams, threads


class CpuPlugin(Plugin):
    device_name = "CPU"
    priority = 10

    def supported_properties(self):
        return dict(PROPERTIES)

    def query_model(self, model, properties):
        return {node.name: self.device_name for node in model.ordered_nodes()}

    def compile_model(self, model, properties):
        from kiln.passes import optimize

        precision = str(properties.get("INFERENCE_PRECISION_HINT", "f32")).lower()
        if precision not in ("f32", "", "undefined"):
            raise DeviceError(f"CPU: INFERENCE_PRECISION_HINT {precision!r} is not supported (f32 only)")
        _, threads = streams_and_threads(properties)
        profiling = str(properties.get("PERF_COUNT", False)).upper() in ("TRUE", "YES", "1")
        if not properties.get("KILN_MODEL_OPTIMIZED"):  # set on models restored from an export
            model = optimize(model)
        clock = str(properties.get("KILN_PERF_CLOCK", "wall")).lower()
        return CpuExecutable(model, threads=threads, profiling=profiling, clock=clock)
