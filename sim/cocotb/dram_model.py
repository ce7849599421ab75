"""A cocotb bus model of DRAM behind a `DramPort`: byte memory, back-pressure, read latency."""

from __future__ import annotations

from collections import deque

import numpy as np
from cocotb.triggers import FallingEdge


class DramModel:
    """Serve a `DramPort` whose signals are ``<prefix>req_valid`` ... on ``dut``.

    ``memory`` is a uint8 array, modified in place by writes. Each cycle the
    model takes a request with probability ``ready_probability`` and answers a
    read ``latency`` cycles later (an int, or a (low, high) range drawn per read,
    responses kept in order). Signals are sampled and driven at the falling
    clock edge, so the DUT sees them settled at the rising edge. An access
    outside ``memory`` raises IndexError naming the address.
    """

    def __init__(self, dut, prefix: str, memory: np.ndarray, bus_bytes: int, *,
                 ready_probability: float = 1.0, latency: int | tuple[int, int] = 1,
                 seed: int = 0):
        self.dut, self.memory, self.bus_bytes = dut, memory, bus_bytes
        self.signal = {name: getattr(dut, prefix + name) for name in (
            "req_valid", "req_ready", "req_addr", "req_we", "req_wdata", "req_wmask",
            "resp_valid", "resp_rdata")}
        self.ready_probability = ready_probability
        self.latency = latency
        self.rng = np.random.default_rng(seed)
        self.cycle = 0
        self.responses: deque[tuple[int, int]] = deque()
        self.reads = 0
        self.writes = 0
        self.signal["req_ready"].value = 0
        self.signal["resp_valid"].value = 0
        self._ready = False
        self._resp_valid = False

    def _beat_range(self, address: int) -> slice:
        if address % self.bus_bytes or address + self.bus_bytes > len(self.memory):
            raise IndexError(f"DRAM access at 0x{address:x} is unaligned or outside the "
                             f"{len(self.memory)}-byte memory")
        return slice(address, address + self.bus_bytes)

    def _read_latency(self) -> int:
        if isinstance(self.latency, tuple):
            return int(self.rng.integers(self.latency[0], self.latency[1] + 1))
        return self.latency

    def step(self) -> None:
        """Sample and drive the port once; call at each falling edge."""
        s = self.signal
        self.cycle += 1
        ready = self.ready_probability >= 1.0 or self.rng.random() < self.ready_probability
        if ready and int(s["req_valid"].value):
            beat = self._beat_range(int(s["req_addr"].value))
            if int(s["req_we"].value):
                data = int(s["req_wdata"].value).to_bytes(self.bus_bytes, "little")
                mask = int(s["req_wmask"].value)
                for i in range(self.bus_bytes):
                    if mask >> i & 1:
                        self.memory[beat.start + i] = data[i]
                self.writes += 1
            else:
                word = int.from_bytes(self.memory[beat].tobytes(), "little")
                due = self.cycle + self._read_latency()
                if self.responses:
                    due = max(due, self.responses[-1][0] + 1)
                self.responses.append((due, word))
                self.reads += 1
        # Signal writes cost more than the bookkeeping: write only what changes.
        if ready != self._ready:
            s["req_ready"].value = int(ready)
            self._ready = ready
        if self.responses and self.responses[0][0] <= self.cycle:
            if not self._resp_valid:
                s["resp_valid"].value = 1
                self._resp_valid = True
            s["resp_rdata"].value = self.responses.popleft()[1]
        elif self._resp_valid:
            s["resp_valid"].value = 0
            self._resp_valid = False

    async def run(self) -> None:
        """Serve the port forever (start with ``cocotb.start_soon``)."""
        while True:
            await FallingEdge(self.dut.clk)
            self.step()
