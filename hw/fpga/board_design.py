"""The board top level bound to a platform's pins: what a bitstream is built from."""

from __future__ import annotations

from amaranth import Elaboratable, Module

from ..rtl.vpu import VPU
from .board_top import BoardTop
from .uart import baud_divisor

#: Longest gap between two bytes of one request before the bridge drops it, in seconds.
REQUEST_TIMEOUT_S = 0.1


def board_top(config, *, dram_bytes: int, clock_hz: float, baud: int) -> BoardTop:
    """Return the board top level: ``VPU(config)``, a block-RAM DRAM and a UART host link."""
    return BoardTop(VPU(config), bus_bytes=config.dram_bus_bytes, dram_bytes=dram_bytes,
                    clock_hz=clock_hz, divisor=baud_divisor(clock_hz, baud),
                    timeout_cycles=round(REQUEST_TIMEOUT_S * clock_hz))


class BoardDesign(Elaboratable):
    """Bind a ``BoardTop`` to the platform: UART 0 to the host link, LED 0 to link activity.

    Runs in the platform's default clock domain (``top.clock_hz`` must be its frequency).
    """

    def __init__(self, top: BoardTop):
        self.top = top

    def elaborate(self, platform):
        m = Module()
        m.submodules.top = top = self.top
        uart = platform.request("uart", 0)
        led = platform.request("led", 0)
        m.d.comb += [top.uart_rx.eq(uart.rx.i), uart.tx.o.eq(top.uart_tx),
                     led.o.eq(top.link_active)]
        return m
