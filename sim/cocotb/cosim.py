"""Whole-program co-simulation: the same program on the RTL VPU and on the ISA simulator.

`run_rtl` runs a program on the Amaranth `VPU` (exported to Verilog, compiled by
Verilator, driven by cocotb with a modelled DRAM) and returns the DRAM after the
run and the RTL's counters. `cosimulate` runs it on the ISA simulator as well,
checks every DRAM byte and reports the RTL cycle count against the timing model.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from kiln.hw import isa
from kiln.hw.config import VPUConfig
from kiln.hw.registers import ErrorCode
from kiln.hw.rtl.vpu import VPU
from kiln.hw.verilog import component_verilog

from .errors import CosimMismatchError, RtlSimulationError, WatchdogError
from .runner import SIMULATORS, VerilatorDesign, cache_root

BENCH = "kiln.sim.cocotb.benches.vpu_program"
DEFAULT_MAX_CYCLES = 5_000_000

_designs: dict[tuple[VPUConfig, str | None, str], VerilatorDesign] = {}


def _design_sources_digest() -> str:
    """Return a digest of the HDL sources (kiln.hw, kiln.hw.rtl) and the Amaranth version."""
    import amaranth
    import kiln.hw

    hw = Path(kiln.hw.__file__).parent
    digest = hashlib.sha256(amaranth.__version__.encode())
    for path in sorted([*hw.glob("*.py"), *(hw / "rtl").glob("*.py")]):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


_SOURCES = _design_sources_digest()
"""The HDL sources as this process imported them (just above). Read once: Verilog is generated
from the modules in memory, so a source edited later must not key it (stale Verilog under a
new key made an Icarus run simulate old RTL)."""


def vpu_verilog(config: VPUConfig) -> str:
    """Return the Verilog of ``VPU(config)``, cached on disk by config and HDL source."""
    key = hashlib.sha256(f"{config!r}{_SOURCES}".encode()).hexdigest()[:16]
    path = cache_root() / "verilog" / f"vpu-{key}.v"
    if path.exists():
        return path.read_text()
    verilog = component_verilog(VPU(config), "vpu")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(verilog)
    partial.replace(path)
    return verilog


def vpu_design(config: VPUConfig, waveform: str | None = None,
               simulator: str = "verilator") -> VerilatorDesign:
    """Return the simulator build of ``VPU(config)`` (compiled on first use, then cached).

    ``simulator`` is "verilator" (default) or "icarus" (where iverilog is installed).
    """
    if simulator not in SIMULATORS:
        raise RtlSimulationError(f"unknown simulator {simulator!r}; use one of "
                                 f"{', '.join(SIMULATORS)}")
    key = (config, waveform, simulator)
    if key not in _designs:
        _designs[key] = SIMULATORS[simulator](vpu_verilog(config), "vpu", waveform=waveform)
    return _designs[key]


@dataclass
class RtlRun:
    """One program run on the RTL: DRAM afterwards, cycles from START to DONE, counters.

    ``seconds`` is the wall time the HDL simulation took from START to DONE
    (simulator start-up and register set-up excluded).
    """

    dram: np.ndarray
    cycles: int
    counters: dict[str, int]
    seconds: float = 0.0
    waveform: Path | None = None


def run_rtl(config: VPUConfig, dram: np.ndarray, program_address: int, instruction_count: int,
            *, max_cycles: int = DEFAULT_MAX_CYCLES, waveform: str | Path | None = None,
            dram_latency: int | tuple[int, int] | None = None, ready_probability: float = 1.0,
            seed: int = 0, simulator: str = "verilator") -> RtlRun:
    """Run a program already in ``dram`` (uint8, left unchanged) on the RTL VPU.

    The DRAM model answers reads ``dram_latency`` cycles after taking them
    (default ``config.dram_latency``; a (low, high) pair draws per read) and takes a
    request each cycle with probability ``ready_probability``. ``waveform`` names a
    .vcd or .fst file to dump (a separate, slower build). Raises `WatchdogError`
    (cycles run, instructions retired, the oldest one not retired) when the program
    does not finish within ``max_cycles``, and `RtlSimulationError` naming the error
    code and instruction index when the VPU stops on an error. ``simulator`` picks
    Verilator (default) or Icarus Verilog.
    """
    dram = np.ascontiguousarray(dram, dtype=np.uint8).reshape(-1)
    wave_format = None
    if waveform is not None:
        wave_format = Path(waveform).suffix.lstrip(".").lower()
        if wave_format not in ("vcd", "fst"):
            raise RtlSimulationError(f"waveform {waveform}: use a .vcd or .fst file name")
    design = vpu_design(config, wave_format, simulator)
    job = Path(tempfile.mkdtemp(prefix="kiln-rtl-"))
    try:
        latency = config.dram_latency if dram_latency is None else dram_latency
        spec = {"program_address": program_address, "instruction_count": instruction_count,
                "max_cycles": max_cycles, "bus_bytes": config.dram_bus_bytes,
                "dram_latency": list(latency) if isinstance(latency, tuple) else latency,
                "ready_probability": ready_probability, "seed": seed}
        (job / "job.json").write_text(json.dumps(spec))
        np.save(job / "dram_in.npy", dram)
        design.check(BENCH, parameters={"job": str(job)}, work_dir=job / "sim",
                     waveform_file=Path(waveform) if waveform else None)
        result = json.loads((job / "result.json").read_text())
        after = np.load(job / "dram_out.npy")
    finally:
        shutil.rmtree(job, ignore_errors=True)
    counters = result["counters"]
    code = result["error_code"]
    if result["bench_timeout"] or (result["error"] and code == ErrorCode.TIMEOUT):
        raise WatchdogError(
            f"the RTL did not reach FINISH within {max_cycles} cycles: ran "
            f"{counters['cycles']} cycles, retired {counters['retired']} instructions; the "
            f"oldest instruction not retired is {result['error_index']}")
    if result["error"]:
        name = ErrorCode(code).name if code in ErrorCode._value2member_map_ else str(code)
        raise RtlSimulationError(
            f"the RTL stopped with {name} at instruction {result['error_index']} after "
            f"{counters['cycles']} cycles ({counters['retired']} instructions retired)")
    return RtlRun(after, counters["cycles"], counters, result["seconds"],
                  Path(waveform) if waveform else None)


@dataclass
class CosimResult:
    """Outcome of a co-simulation whose outputs agreed bit for bit."""

    rtl: RtlRun
    model_cycles: int
    model_counters: dict[str, int] = field(default_factory=dict)

    @property
    def rtl_cycles(self) -> int:
        """Cycles the RTL took from START to DONE."""
        return self.rtl.cycles

    @property
    def cycle_error(self) -> float:
        """Relative error of the timing model against the RTL: (model - rtl) / rtl."""
        return (self.model_cycles - self.rtl.cycles) / self.rtl.cycles

    def summary(self) -> str:
        """Return a one-line report: bit-exact, cycles of both, the error."""
        return (f"outputs bit-exact; RTL {self.rtl.cycles:,} cycles, timing model "
                f"{self.model_cycles:,} cycles ({self.cycle_error:+.1%})")


def _decode(program) -> list[isa.Instruction]:
    if isinstance(program, (bytes, bytearray, memoryview)):
        return isa.decode_program(bytes(program))
    return list(program)


def writer_of(program: list[isa.Instruction], address: int, config: VPUConfig) -> int | None:
    """Return the index of the last STORE in ``program`` that writes DRAM byte ``address``."""
    found = None
    for index, instruction in enumerate(program):
        if instruction.opcode != isa.Opcode.STORE:
            continue
        element = (instruction.lanes or config.dim) * (1 if instruction.mem == 0 else 4)
        for y in range(instruction.y_size):
            row = instruction.dram + y * instruction.y_stride
            for x in range(instruction.x_size):
                start = row + x * instruction.x_stride
                if start <= address < start + element:
                    found = index
    return found


def cosimulate(program, dram: np.ndarray, config: VPUConfig, *, program_address: int = 0,
               max_cycles: int = DEFAULT_MAX_CYCLES, waveform: str | Path | None = None,
               ready_probability: float = 1.0, seed: int = 0,
               simulator: str = "verilator") -> CosimResult:
    """Run ``program`` on the RTL and the ISA simulator and check every DRAM byte agrees.

    ``program`` is a list of `kiln.hw.isa.Instruction` or its encoding; it is
    written into a copy of ``dram`` at ``program_address`` for both runs. Raises
    `CosimMismatchError` naming the first differing address, both values and the
    STORE that wrote it; returns the RTL run and the timing model's cycle count.
    """
    from kiln.sim.machine import Machine

    instructions = _decode(program)
    image = np.array(dram, dtype=np.uint8).reshape(-1)
    encoded = np.frombuffer(isa.encode_program(instructions), dtype=np.uint8)
    end = program_address + encoded.size
    if end > image.size:
        raise RtlSimulationError(f"the program ({encoded.size} bytes at 0x{program_address:x})"
                                 f" does not fit the {image.size}-byte DRAM image")
    image[program_address:end] = encoded

    machine = Machine(config, dram_size=image.size)
    machine.dram[:] = image
    model = machine.run(program_address, len(instructions), max_cycles=max_cycles)
    rtl = run_rtl(config, image, program_address, len(instructions), max_cycles=max_cycles,
                  waveform=waveform, ready_probability=ready_probability, seed=seed,
                  simulator=simulator)
    differ = np.flatnonzero(rtl.dram != machine.dram)
    if differ.size:
        address = int(differ[0])
        writer = writer_of(instructions, address, config)
        by = (f"written by instruction {writer} ({isa.format_instruction(instructions[writer])})"
              if writer is not None else "written by no STORE of the program")
        raise CosimMismatchError(
            f"RTL and ISA simulator differ at {differ.size} DRAM bytes; first at 0x{address:x}: "
            f"RTL 0x{int(rtl.dram[address]):02x}, ISA simulator "
            f"0x{int(machine.dram[address]):02x}, {by}")
    return CosimResult(rtl, model.cycles, dict(model.counters))
