"""Share one DRAM port among several masters (instruction fetch, load DMA, store DMA)."""

from amaranth import Module, Signal
from amaranth.lib import fifo, wiring
from amaranth.lib.wiring import In, Out

from .ports import DramPort


class DramArbiter(wiring.Component):
    """Round-robin arbiter from ``masters`` DRAM ports onto one.

    Requests pass through combinationally: the granted master sees the memory's
    ``req_ready``. The master of each read taken is remembered in a FIFO of
    ``max_reads`` entries, so in-order read responses return to the master that
    asked; when that FIFO is full, no further read is granted.

    Ports:
        master[i] (In DramPort(bus_bytes)): the i-th master's port (i = 0 .. masters-1).
        memory (Out DramPort(bus_bytes)): the shared port towards DRAM.
    """

    def __init__(self, bus_bytes: int, masters: int, max_reads: int = 16):
        self.masters = masters
        self.max_reads = max_reads
        members = {f"master{i}": In(DramPort(bus_bytes)) for i in range(masters)}
        members["memory"] = Out(DramPort(bus_bytes))
        super().__init__(members)

    def port(self, index: int):
        """Return the interface of master ``index``."""
        return getattr(self, f"master{index}")

    def elaborate(self, platform):
        m = Module()
        n = self.masters
        m.submodules.owners = owners = fifo.SyncFIFO(width=max(1, (n - 1).bit_length()),
                                                    depth=self.max_reads)
        ports = [self.port(i) for i in range(n)]
        memory = self.memory

        # Round-robin: the master after the last one granted has priority.
        last = Signal(range(max(n, 2)))
        grant = Signal(range(max(n, 2)))
        any_request = Signal()
        eligible = [Signal(name=f"eligible{i}") for i in range(n)]
        for i, port in enumerate(ports):
            m.d.comb += eligible[i].eq(port.req_valid & (port.req_we | owners.w_rdy))
        for offset in reversed(range(n)):
            for i in range(n):
                with m.If((last + 1 + offset) % n == i):
                    with m.If(eligible[i]):
                        m.d.comb += [grant.eq(i), any_request.eq(1)]
        for i, port in enumerate(ports):
            with m.If(any_request & (grant == i)):
                m.d.comb += [
                    memory.req_valid.eq(1),
                    memory.req_addr.eq(port.req_addr),
                    memory.req_we.eq(port.req_we),
                    memory.req_wdata.eq(port.req_wdata),
                    memory.req_wmask.eq(port.req_wmask),
                    port.req_ready.eq(memory.req_ready),
                ]
        taken = memory.req_valid & memory.req_ready
        with m.If(taken):
            m.d.sync += last.eq(grant)
        m.d.comb += [
            owners.w_en.eq(taken & ~memory.req_we),
            owners.w_data.eq(grant),
            owners.r_en.eq(memory.resp_valid),
        ]
        for i, port in enumerate(ports):
            m.d.comb += [
                port.resp_rdata.eq(memory.resp_rdata),
                port.resp_valid.eq(memory.resp_valid & owners.r_rdy & (owners.r_data == i)),
            ]
        return m
