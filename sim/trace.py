"""Export a run's timeline as Chrome/Perfetto trace-event JSON.

Open the file at https://ui.perfetto.dev (or chrome://tracing): one process "VPU"
with a track per unit (fetch, load, compute, store) showing each instruction and
each stall as a slice, and counter tracks with the occupancy of the four token
FIFOs. Timestamps are microseconds at the configured clock; every slice also
carries its start and length in cycles.
"""

from __future__ import annotations

import json
from pathlib import Path

from kiln.sim.pipeline import RunResult

_TRACKS = {"fetch": 1, "load": 2, "compute": 3, "store": 4}


def trace_events(result: RunResult) -> list[dict]:
    """Return the trace events (Chrome trace-event format) of a run recorded with trace=True."""
    if result.trace is None:
        raise ValueError("the run was not recorded: run it with trace=True")
    us = 1.0 / result.clock_mhz
    events: list[dict] = [
        {"name": "process_name", "ph": "M", "pid": 1,
         "args": {"name": f"VPU {result.dim}x{result.dim} @ {result.clock_mhz:g} MHz"}},
    ]
    for name, tid in _TRACKS.items():
        events.append({"name": "thread_name", "ph": "M", "pid": 1, "tid": tid,
                       "args": {"name": name}})
        events.append({"name": "thread_sort_index", "ph": "M", "pid": 1, "tid": tid,
                       "args": {"sort_index": tid}})
    for r in result.trace:
        if r.track == "tokens":
            events.append({"name": f"tokens {r.name}", "ph": "C", "pid": 1, "ts": r.start * us,
                           "args": {"tokens": r.args["value"]}})
            continue
        category = "stall" if r.name.startswith("wait") else r.track
        events.append({"name": r.name, "cat": category, "ph": "X", "pid": 1,
                       "tid": _TRACKS[r.track], "ts": r.start * us, "dur": r.cycles * us,
                       "args": {"start_cycle": r.start, "cycles": r.cycles, **r.args}})
    return events


def write_trace(result: RunResult, path: str | Path) -> Path:
    """Write the run's timeline to ``path`` as trace-event JSON; return the path."""
    path = Path(path)
    document = {"traceEvents": trace_events(result), "displayTimeUnit": "ns",
                "otherData": {"cycles": result.cycles, **{k: v for k, v in
                                                          result.counters.items()}}}
    path.write_text(json.dumps(document))
    return path
