"""The board top level bound to a platform's pins: what a bitstream is built from."""

from __future__ import annotations

from amaranth import Elaboratable, Module
from amaranth.lib import io

from ..rtl.vpu import VPU
from .board_top import BoardTop
from .clocking import Ecp5Pll, Ecp5PllSetting
from .uart import baud_divisor

#: Longest gap between two bytes of one request before the bridge drops it, in seconds.
REQUEST_TIMEOUT_S = 0.1


def board_top(config, *, dram_bytes: int, clock_hz: float, baud: int,
              dram_memory: str = "block-ram") -> BoardTop:
    """Return the board top level: ``VPU(config)``, an on-chip DRAM and a UART host link."""
    return BoardTop(VPU(config), bus_bytes=config.dram_bus_bytes, dram_bytes=dram_bytes,
                    clock_hz=clock_hz, divisor=baud_divisor(clock_hz, baud),
                    timeout_cycles=round(REQUEST_TIMEOUT_S * clock_hz), dram_memory=dram_memory)


class BoardDesign(Elaboratable):
    """Bind a ``BoardTop`` to the platform: UART 0 to the host link, LED 0 to link activity.

    Without ``pll`` the design runs in the platform's default clock domain, and
    ``top.clock_hz`` must be that clock's frequency. With an ECP5 ``pll`` setting the
    ``sync`` domain is the PLL's output (``top.clock_hz`` must be its frequency), held
    in reset until the PLL locks.
    """

    def __init__(self, top: BoardTop, pll: Ecp5PllSetting | None = None):
        self.top = top
        self.pll = pll

    def elaborate(self, platform):
        m = Module()
        if self.pll is not None:
            m.submodules.clock_in = clock_in = io.Buffer(
                "i", platform.request(platform.default_clk, dir="-"))
            m.submodules.pll = Ecp5Pll(clock_in.i, self.pll)
        m.submodules.top = top = self.top
        uart = platform.request("uart", 0, dir="-")
        m.submodules.uart_rx = rx = io.Buffer("i", uart.rx)
        m.submodules.uart_tx = tx = io.Buffer("o", uart.tx)
        m.submodules.led = led = io.Buffer("o", platform.request("led", 0, dir="-"))
        m.d.comb += [top.uart_rx.eq(rx.i), tx.o.eq(top.uart_tx), led.o.eq(top.link_active)]
        return m
