"""The architectural state of one VPU: DRAM, scratchpad and accumulator."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from kiln.hw.config import VPUConfig


@dataclass
class VpuState:
    """Memories the instructions read and write.

    ``dram``: uint8 bytes (int32 values little endian). ``scratchpad``: int8 array
    of shape (sp_depth, dim). ``accumulator``: int32 array of shape (acc_depth, dim).
    """

    config: VPUConfig
    dram: np.ndarray
    scratchpad: np.ndarray = field(init=False)
    accumulator: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        if self.dram.dtype != np.uint8 or self.dram.ndim != 1:
            raise ValueError("dram must be a 1-D uint8 array")
        c = self.config
        self.scratchpad = np.zeros((c.sp_depth, c.dim), dtype=np.int8)
        self.accumulator = np.zeros((c.acc_depth, c.dim), dtype=np.int32)

    def memory(self, name: str) -> np.ndarray:
        """Return the on-chip memory called ``name`` ("sp" or "acc")."""
        return self.scratchpad if name == "sp" else self.accumulator

    def depth(self, name: str) -> int:
        """Return the row count of on-chip memory ``name``."""
        return self.config.sp_depth if name == "sp" else self.config.acc_depth
