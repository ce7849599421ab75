"""The VPU plugin: quantized layers compiled to the VPU ISA, run on a transport.

Properties: ``VPU_CONFIG`` (a VPUConfig) or ``VPU_DIM``; ``VPU_TRANSPORT``: ``"isa-sim"``
(default, the bit-exact ISA simulator), ``"rtl"`` (the Amaranth RTL under Verilator) or
``"board"`` (``VPU_BOARD_PORT`` names the serial device); ``PERF_COUNT`` for per-layer
profiling; ``VPU_TRACE_PATH`` writes the simulator's Perfetto timeline of each run.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kiln.compiler import VpuProgram, analyze, compile_subgraph
from kiln.drivers.plugin import Executable, Plugin
from kiln.drivers.vpu.transport import RunStats, Transport
from kiln.errors import DeviceError
from kiln.hw.config import VPUConfig
from kiln.hw.isa import encode_program

MAX_CYCLES = 10**11


def vpu_config(properties: Mapping[str, Any]) -> VPUConfig:
    """Return the VPUConfig a compile asks for (``VPU_CONFIG``, or ``VPU_DIM`` on the defaults)."""
    config = properties.get("VPU_CONFIG")
    if config is None:
        config = VPUConfig(dim=int(properties.get("VPU_DIM", VPUConfig().dim)))
    elif isinstance(config, Mapping):
        config = VPUConfig(**config)
    return config


def open_transport(kind: str, config: VPUConfig, dram_size: int, properties: Mapping[str, Any]) -> Transport:
    """Return a transport of ``kind`` ("isa-sim", "rtl" or "board") with at least ``dram_size`` bytes."""
    if kind == "isa-sim":
        from kiln.drivers.vpu.isa_sim import IsaSimTransport

        return IsaSimTransport(config, dram_size=dram_size)
    if kind == "rtl":
        from kiln.drivers.vpu.rtl import RtlTransport

        return RtlTransport(config, dram_size=dram_size, waveform=properties.get("VPU_WAVEFORM"))
    if kind == "board":
        from kiln.drivers.vpu.board import BoardTransport

        port = properties.get("VPU_BOARD_PORT")
        if not port:
            raise DeviceError("VPU_TRANSPORT=board needs VPU_BOARD_PORT (e.g. /dev/ttyUSB0)")
        return BoardTransport(port, config)
    raise DeviceError(f"unknown VPU_TRANSPORT {kind!r}; use 'isa-sim', 'rtl' or 'board'")


class VpuExecutable(Executable):
    """A compiled program bound to one transport; runs are serialized on it."""

    def __init__(self, program: VpuProgram, transport_kind: str, properties: Mapping[str, Any],
                 input_names: list[str]):
        self.program = program
        self.transport_kind = transport_kind
        self.properties = dict(properties)
        self.input_names = input_names
        self.profiling = bool(properties.get("PERF_COUNT", False))
        self.last_stats: RunStats | None = None
        self._trace = None
        self._lock = threading.Lock()
        self._transport: Transport | None = None

    def _ensure_loaded(self) -> Transport:
        if self._transport is None:
            p = self.program
            size = p.dram_size + (-p.dram_size % 4096)
            transport = open_transport(self.transport_kind, p.config, size, self.properties)
            transport.write_dram(p.constants_address, p.constants)
            transport.write_dram(p.program_address, encode_program(p.instructions))
            self._transport = transport
        return self._transport

    def infer(self, inputs):
        p = self.program
        dim = p.config.dim
        values = dict(zip(self.input_names, inputs))
        with self._lock:
            transport = self._ensure_loaded()
            for binding in p.inputs:
                transport.write_dram(binding.address, binding.encode(values[binding.name], dim))
            stats = self._run(transport)
            outputs = [b.decode(transport.read_dram(b.address, b.nbytes(dim)), dim) for b in p.outputs]
            self.last_stats = stats
        return outputs

    def _run(self, transport: Transport) -> RunStats:
        p = self.program
        machine = getattr(transport, "machine", None)
        if (self.profiling or self.properties.get("VPU_TRACE_PATH")) and machine is not None:
            from kiln.sim import SimulationError

            try:
                result = machine.run(p.program_address, len(p.instructions), MAX_CYCLES, trace=True)
            except SimulationError as error:
                raise DeviceError(f"isa-sim: {error}") from error
            self._trace = result
            if self.properties.get("VPU_TRACE_PATH"):
                machine.write_trace(self.trace_path())
            return RunStats(result.cycles, {k: v for k, v in result.counters.items() if k != "cycles"})
        return transport.run(p.program_address, len(p.instructions), MAX_CYCLES)

    def trace_path(self) -> Path:
        """Where this program's timeline goes: VPU_TRACE_PATH, suffixed by its first layer's name
        when the model has several VPU subgraphs."""
        path = Path(self.properties["VPU_TRACE_PATH"])
        if not self.program.layers:
            return path
        tag = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.program.layers[0].name)
        return path.with_name(f"{path.stem}.{tag}{path.suffix}")

    def profiling_info(self) -> list[dict[str, Any]]:
        """Per-layer cycles, MACs, MAC utilisation and DMA bytes of the last run (PERF_COUNT)."""
        if self._trace is None:
            return []
        return layer_profile(self.program, self._trace)


def layer_profile(program: VpuProgram, result) -> list[dict[str, Any]]:
    """Attribute a traced simulator run's timeline to the program's layers."""
    dim = program.config.dim
    rows = []
    records = [r for r in result.trace if r.track in ("load", "compute", "store") and "index" in r.args
               and not r.name.startswith("wait")]
    for layer in program.layers:
        mine = [r for r in records if layer.first <= r.args["index"] <= layer.last]
        if not mine:
            continue
        start = min(r.start for r in mine)
        end = max(r.start + r.cycles for r in mine)
        cycles = max(1, end - start)
        dma = 0
        for r in mine:
            instr = program.instructions[r.args["index"]]
            if r.track in ("load", "store"):
                lanes = instr.lanes or dim
                dma += instr.y_size * instr.x_size * lanes * (4 if instr.mem == 1 else 1)
        rows.append({
            "node_name": layer.name, "node_type": layer.kind, "exec_type": f"vpu_{layer.kind}",
            "device": "VPU", "cycles": cycles, "macs": layer.macs,
            "utilisation": layer.macs / (cycles * dim * dim), "dma_bytes": dma,
            "real_time_us": cycles / program.config.clock_mhz, "nodes": layer.nodes,
            "status": "EXECUTED",
        })
    return rows


class VpuPlugin(Plugin):
    """The Kiln VPU: int8 convolutions, matmuls, residual adds and pooling."""

    device_name = "VPU"
    priority = 20

    def supported_properties(self) -> dict[str, Any]:
        return {"VPU_TRANSPORT": "isa-sim", "VPU_DIM": VPUConfig().dim, "VPU_CONFIG": None,
                "PERF_COUNT": False, "VPU_TRACE_PATH": None, "VPU_BOARD_PORT": None}

    def query_model(self, model, properties):
        support = analyze(model, vpu_config(properties))
        return {name: self.device_name for name in support.placement}

    def placement_reasons(self, model, properties):
        support = analyze(model, vpu_config(properties))
        return dict(support.reasons)

    def compile_model(self, model, properties):
        config = vpu_config(properties)
        program = compile_subgraph(model, config)
        kind = str(properties.get("VPU_TRANSPORT", "isa-sim"))
        return VpuExecutable(program, kind, properties, [p.name for p in model.parameters])
