"""A cocotb driver of the VPU's register port (`RegisterPort`), by register name."""

from __future__ import annotations

from cocotb.triggers import FallingEdge
from kiln.hw import registers


class RegisterDriver:
    """Read and write the VPU's CSRs by name through ``<prefix>addr/wdata/we/rdata``.

    Signals change at the falling clock edge, so the VPU samples them settled at
    the rising edge. A write takes one cycle, a read two (one-cycle read latency).
    """

    def __init__(self, dut, prefix: str = "csr__"):
        self.dut = dut
        self.addr = getattr(dut, prefix + "addr")
        self.wdata = getattr(dut, prefix + "wdata")
        self.we = getattr(dut, prefix + "we")
        self.rdata = getattr(dut, prefix + "rdata")
        self.we.value = 0
        self.addr.value = 0
        self.wdata.value = 0

    async def write(self, name: str, value: int) -> None:
        """Write ``value`` to register ``name``."""
        await FallingEdge(self.dut.clk)
        self.addr.value = registers.offset(name)
        self.wdata.value = value & 0xFFFF_FFFF
        self.we.value = 1
        await FallingEdge(self.dut.clk)
        self.we.value = 0

    async def read(self, name: str) -> int:
        """Return the value of register ``name``."""
        await FallingEdge(self.dut.clk)
        self.addr.value = registers.offset(name)
        await FallingEdge(self.dut.clk)
        return int(self.rdata.value)

    async def read_counter(self, name: str) -> int:
        """Return a performance counter by its `registers.COUNTERS` name (64-bit pairs joined)."""
        words = registers.COUNTERS[name]
        value = 0
        for position, word in enumerate(words):
            value |= await self.read(word) << (32 * position)
        return value
