"""A cocotb model of the on-chip row memories behind `RowReadPort`s and a `RowWritePort`.

Module benches (vector unit, GEMM engine, load and store engines) drive their
memory ports straight from cocotb instead of through `kiln.hw.rtl.memories`, so
the bench sees every row and can compare it with the ISA simulator's state.
"""

from __future__ import annotations

import numpy as np
from kiln.sim.cocotb.bench import pack, unpack


class RowMemoryModel:
    """Serve synchronous row reads and row writes of ``memory`` (rows x lanes, int8 or int32).

    ``read_prefixes`` name read ports (``<prefix>addr``, ``en``, ``data`` on ``dut``);
    ``write_prefix`` names the write port (``addr``, ``data``, ``en``), or is None.
    Like `RowMemory`: a read whose ``en`` is high at a rising edge shows the row on
    ``data`` after that edge (the row *before* a write at the same edge) and ``data``
    holds while ``en`` is low. Call `sample` in the ReadOnly phase before each rising
    edge and `drive` just after it. Addresses wrap at ``len(memory)`` rows (the
    port's address bits). ``memory`` is changed in place by writes.
    """

    def __init__(self, dut, memory: np.ndarray, read_prefixes=(), write_prefix: str | None = None):
        self.memory = memory
        self.lane_bits = 8 * memory.dtype.itemsize
        self.lanes = memory.shape[1]
        self.reads = [{name: getattr(dut, prefix + name) for name in ("addr", "en", "data")}
                      for prefix in read_prefixes]
        self.write = (None if write_prefix is None else
                      {name: getattr(dut, write_prefix + name) for name in ("addr", "data", "en")})
        self._pending: list[int | None] = [None] * len(self.reads)
        self._shown: list[int | None] = [None] * len(self.reads)
        self.writes: list[tuple[int, np.ndarray]] = []  # (row, data) in write order
        for port in self.reads:
            port["data"].value = 0

    def sample(self) -> None:
        """Take the reads and the write offered for the coming rising edge."""
        depth = len(self.memory)
        for index, port in enumerate(self.reads):
            if int(port["en"].value):
                row = int(port["addr"].value) % depth
                self._pending[index] = pack(self.memory[row], self.lane_bits)
        if self.write is not None and int(self.write["en"].value):
            row = int(self.write["addr"].value) % depth
            values = unpack(self.write["data"].value, self.lanes, self.lane_bits)
            self.memory[row] = np.array(values, dtype=self.memory.dtype)
            self.writes.append((row, self.memory[row].copy()))

    def drive(self) -> None:
        """Show the rows read at the edge just passed on the ``data`` signals."""
        for index, port in enumerate(self.reads):
            word = self._pending[index]
            if word is not None and word != self._shown[index]:
                port["data"].value = word
                self._shown[index] = word


class MemoryClock:
    """Step a module bench one clock cycle at a time around its row memories (and DRAM).

    Each cycle is ``await fall()`` (the falling edge: registered outputs are settled,
    drive the inputs for the next rising edge), then ``await rise()`` (every model
    samples its ports in the ReadOnly phase, the rising edge passes, read rows are
    shown). ``dram`` is a `DramModel` or None; it is stepped at each falling edge,
    after the caller's drives. ``probes`` are functions called with no argument in
    the ReadOnly phase of every cycle, next to the memories' sampling (for counters
    and other outputs that hold for the coming edge only).
    """

    def __init__(self, dut, memories: list[RowMemoryModel], dram=None):
        from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

        self.dut, self.memories, self.dram = dut, memories, dram
        self._falling, self._read_only, self._rising = FallingEdge, ReadOnly, RisingEdge
        self.cycle = 0
        self.probes: list = []

    async def fall(self) -> None:
        """Wait for the falling edge; inputs written now reach the next rising edge."""
        await self._falling(self.dut.clk)
        self.cycle += 1

    async def rise(self) -> None:
        """Step the DRAM, sample every memory port, pass the rising edge, show read rows."""
        if self.dram is not None:
            self.dram.step()
        await self._read_only()
        for memory in self.memories:
            memory.sample()
        for probe in self.probes:
            probe()
        await self._rising(self.dut.clk)
        for memory in self.memories:
            memory.drive()
