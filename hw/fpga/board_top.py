"""The board top level: a VPU, its block-RAM DRAM and the UART host link, as one component."""

from __future__ import annotations

from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .board_dram import BoardDram
from .host_link import HostLinkBridge
from .uart import UartReceiver, UartTransmitter


class BoardTop(wiring.Component):
    """Wire ``core`` (the VPU) to an on-chip DRAM and a UART host link.

    ``core`` must have a ``csr`` member of ``kiln.hw.rtl.ports.RegisterPort`` and a
    ``dram`` member of ``DramPort(bus_bytes)``, both as seen from the core (the VPU's
    own ports). Everything runs in the ``sync`` domain at ``clock_hz``.

    Parameters:
        dram_bytes: size of the DRAM in bytes.
        dram_memory: what holds the DRAM, one of ``board_dram.DRAM_MEMORIES``.
        clock_hz: frequency of the ``sync`` clock, in Hz.
        divisor: UART clock cycles per bit (``clock_hz / baud``).
        timeout_cycles: longest gap, in cycles, between two bytes of one request.

    Ports:
        uart_rx (In, 1): serial line from the host, idle high, 8N1.
        uart_tx (Out, 1): serial line to the host, idle high, 8N1.
        link_active (Out, 1): high while a request is received or answered (for an LED).
    """

    def __init__(self, core, *, bus_bytes: int, dram_bytes: int, clock_hz: float,
                 divisor: int, timeout_cycles: int, dram_memory: str = "block-ram"):
        self.core = core
        self.bus_bytes = bus_bytes
        self.dram_bytes = dram_bytes
        self.dram = BoardDram(dram_bytes, bus_bytes, dram_memory)
        self.clock_hz = clock_hz
        self.divisor = divisor
        self.timeout_cycles = timeout_cycles
        super().__init__({
            "uart_rx": In(1, init=1),
            "uart_tx": Out(1, init=1),
            "link_active": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = core = self.core
        m.submodules.dram = dram = self.dram
        m.submodules.uart_rx = rx = UartReceiver(self.divisor)
        m.submodules.uart_tx = tx = UartTransmitter(self.divisor)
        m.submodules.bridge = bridge = HostLinkBridge(
            dram_bytes=self.dram_bytes,
            csr_bytes=1 << len(core.csr.addr),
            clock_hz=round(self.clock_hz),
            baud=round(self.clock_hz / self.divisor),
            timeout_cycles=self.timeout_cycles,
        )
        wiring.connect(m, rx.data, bridge.rx)
        wiring.connect(m, bridge.tx, tx.data)
        wiring.connect(m, bridge.dram, dram.host)
        wiring.connect(m, core.dram, dram.vpu)
        m.d.comb += [
            rx.rx.eq(self.uart_rx),
            self.uart_tx.eq(tx.tx),
            core.csr.addr.eq(bridge.csr.addr),
            core.csr.wdata.eq(bridge.csr.w_data),
            core.csr.we.eq(bridge.csr.w_en),
            bridge.csr.r_data.eq(core.csr.rdata),
            self.link_active.eq(~tx.tx | ~self.uart_rx),
        ]
        return m
