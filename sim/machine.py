"""The ISA simulator's front door: a VPU with its DRAM that runs programs from DRAM."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from kiln.hw import isa, registers
from kiln.hw.config import VPUConfig
from kiln.hw.isa import Instruction
from kiln.sim.pipeline import RunResult, run_program
from kiln.sim.state import VpuState
from kiln.sim.trace import write_trace

#: DRAM size a Machine gets unless told otherwise: 16 MiB.
DEFAULT_DRAM_BYTES = 16 << 20


class Machine:
    """A VPU (scratchpad, accumulator, three queues) and a byte-addressed DRAM.

    ``dram`` is a uint8 array the host reads and writes directly; the
    scratchpad (int8, shape (sp_depth, dim)) and accumulator (int32, shape
    (acc_depth, dim)) keep their contents between runs, as on-chip SRAM does.
    """

    def __init__(self, config: VPUConfig | None = None, dram_size: int = DEFAULT_DRAM_BYTES):
        self.config = config or VPUConfig()
        if dram_size <= 0 or dram_size > 1 << 32:
            raise ValueError(f"dram_size must be in [1, 2**32] bytes, got {dram_size}")
        self.state = VpuState(self.config, np.zeros(dram_size, dtype=np.uint8))
        self.last_result: RunResult | None = None

    @property
    def dram(self) -> np.ndarray:
        """The DRAM bytes (uint8)."""
        return self.state.dram

    @property
    def scratchpad(self) -> np.ndarray:
        """The scratchpad, int8 of shape (sp_depth, dim)."""
        return self.state.scratchpad

    @property
    def accumulator(self) -> np.ndarray:
        """The accumulator, int32 of shape (acc_depth, dim)."""
        return self.state.accumulator

    def write(self, address: int, data: np.ndarray | bytes) -> None:
        """Copy ``data`` (bytes, or an array taken as its raw bytes) into DRAM at ``address``."""
        raw = np.frombuffer(bytes(data), dtype=np.uint8) if isinstance(
            data, (bytes, bytearray, memoryview)) else np.ascontiguousarray(data).view(np.uint8)
        raw = raw.reshape(-1)
        if address < 0 or address + raw.size > self.dram.size:
            raise ValueError(f"DRAM write of {raw.size} bytes at 0x{address:x} outside DRAM of "
                             f"{self.dram.size} bytes")
        self.dram[address:address + raw.size] = raw

    def read(self, address: int, size: int) -> np.ndarray:
        """Return a copy of ``size`` DRAM bytes from ``address``."""
        if address < 0 or size < 0 or address + size > self.dram.size:
            raise ValueError(f"DRAM read of {size} bytes at 0x{address:x} outside DRAM of "
                             f"{self.dram.size} bytes")
        return self.dram[address:address + size].copy()

    def load_program(self, program: Sequence[Instruction] | bytes, address: int = 0) -> int:
        """Write a program's encoding into DRAM at ``address``; return its instruction count."""
        image = program if isinstance(program, (bytes, bytearray)) else isa.encode_program(program)
        self.write(address, image)
        return len(image) // isa.INSTRUCTION_BYTES

    def run(self, program_address: int, instruction_count: int, max_cycles: int = 10**10,
            trace: bool = False, progress: bool = False) -> RunResult:
        """Run the program at ``program_address`` until FINISH retires.

        Returns cycles and counters (and the timeline when ``trace``); the counters
        read as the VPU's registers do (CYCLES, MACS and DMA_*_BYTES wrap at
        ``config.counter_bits`` bits, so at 2**32 on compact builds). ``progress``
        shows a progress bar of retired instructions. Raises a
        `kiln.sim.errors.SimulationError` naming the instruction index, opcode and
        field on an illegal instruction, an out-of-range address, a deadlock, a
        missing FINISH or more than ``max_cycles`` cycles.
        """
        result = run_program(self.state, program_address, instruction_count, max_cycles,
                             trace, progress)
        for name, words in registers.COUNTERS.items():
            if len(words) == 2:  # a LO/HI counter: config.counter_bits wide, wraps
                result.counters[name] %= 1 << self.config.counter_bits
        self.last_result = result
        return result

    def write_trace(self, path: str | Path) -> Path:
        """Write the last traced run's timeline as Perfetto/Chrome trace-event JSON."""
        if self.last_result is None:
            raise ValueError("no run yet")
        return write_trace(self.last_result, path)
