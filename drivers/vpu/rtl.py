"""The RTL transport: programs run on the Amaranth VPU in Verilator, driven by cocotb.

Slow but exact: each `run` builds (once per config, cached) and starts an HDL
simulation of ``VPU(config)`` with this transport's DRAM behind its DRAM port.
Outputs are bit-identical to the ISA-simulator transport; ``cycles`` are the
RTL's own clock cycles from START to DONE.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from kiln.drivers.vpu.transport import RunStats, Transport
from kiln.hw.config import VPUConfig
from kiln.sim.cocotb.cosim import run_rtl

DEFAULT_DRAM_BYTES = 16 << 20


class RtlTransport(Transport):
    """A VPU in an HDL simulator and a ``dram_size``-byte DRAM held by the host.

    ``waveform`` names a .vcd or .fst file; every run then dumps its waveform
    there (later runs overwrite it). On-chip scratchpad and accumulator contents do
    not survive from one `run` to the next (each run is a fresh simulation), so a
    program must LOAD what it uses, as compiled programs do.
    """

    name = "rtl"

    def __init__(self, config: VPUConfig | None = None, waveform: str | Path | None = None,
                 dram_size: int = DEFAULT_DRAM_BYTES):
        self.config = config or VPUConfig()
        self.waveform = waveform
        if dram_size <= 0 or dram_size > 1 << 32:
            raise ValueError(f"dram_size must be in [1, 2**32] bytes, got {dram_size}")
        self.dram = np.zeros(dram_size, dtype=np.uint8)

    def _span(self, address: int, size: int) -> slice:
        if address < 0 or size < 0 or address + size > self.dram.size:
            raise ValueError(f"DRAM access of {size} bytes at 0x{address:x} outside the "
                             f"{self.dram.size}-byte DRAM")
        return slice(address, address + size)

    def write_dram(self, address: int, data: np.ndarray | bytes) -> None:
        """Copy ``data`` (bytes, or any array taken as raw bytes) into DRAM at ``address``."""
        if isinstance(data, (bytes, bytearray, memoryview)):
            raw = np.frombuffer(bytes(data), dtype=np.uint8)
        else:
            raw = np.ascontiguousarray(data).view(np.uint8).reshape(-1)
        self.dram[self._span(address, raw.size)] = raw

    def read_dram(self, address: int, size: int) -> np.ndarray:
        """Return ``size`` DRAM bytes from ``address`` (a copy)."""
        return self.dram[self._span(address, size)].copy()

    def run(self, program_address: int, instruction_count: int, max_cycles: int) -> RunStats:
        """Run the program in DRAM until FINISH; raise `WatchdogError` past ``max_cycles``."""
        result = run_rtl(self.config, self.dram, program_address, instruction_count,
                         max_cycles=max_cycles, waveform=self.waveform)
        self.dram[:] = result.dram
        return RunStats(result.cycles, dict(result.counters))
