"""The one narrow interface every VPU back end implements.

A transport owns a byte-addressed DRAM and a VPU that fetches its instructions
from that DRAM. The ISA simulator, the RTL simulation and a board are
interchangeable transports: the same program and DRAM image give the same bytes
back from each.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field

import numpy as np


@dataclass
class RunStats:
    """What one run of a program reports.

    ``cycles`` is the VPU clock cycles from start to FINISH; ``counters`` holds the
    performance counters by name (``macs``, ``dma_read_bytes``, ``stall_load`` ...).
    """

    cycles: int
    counters: dict[str, int] = field(default_factory=dict)


class Transport(abc.ABC):
    """A VPU and its DRAM, reached through ten-odd calls (alloc, copy, run)."""

    name: str = "transport"

    @abc.abstractmethod
    def write_dram(self, address: int, data: np.ndarray | bytes) -> None:
        """Copy ``data`` (bytes or any array, taken as raw bytes) into DRAM at ``address``."""

    @abc.abstractmethod
    def read_dram(self, address: int, size: int) -> np.ndarray:
        """Return ``size`` bytes of DRAM from ``address`` as a uint8 array."""

    @abc.abstractmethod
    def run(self, program_address: int, instruction_count: int, max_cycles: int) -> RunStats:
        """Run the program stored in DRAM at ``program_address`` until FINISH.

        Raises an error naming the cycles run and the last instruction retired when
        the program does not finish within ``max_cycles``.
        """

    def close(self) -> None:  # noqa: B027 - optional hook; most transports hold nothing to release
        """Release what the transport holds (a simulator process, a serial port)."""
