"""Share one DRAM port among several masters (instruction fetch, load DMA, store DMA)."""

from amaranth import Cat, Module, Signal
from amaranth.lib import data, fifo, wiring
from amaranth.lib.wiring import In, Out

from .ports import DRAM_ADDRESS_BITS, DramPort


class DramArbiter(wiring.Component):
    """Round-robin arbiter from ``masters`` DRAM ports onto one, registered on both sides
    (with ``compact``: only the grant is registered).

    Each master's requests enter a two-entry request buffer (``req_ready`` is the
    buffer's "not full", a register), and the request granted goes into an output
    register that drives the memory port; so no combinational path runs from one
    master's request through the grant into another master or into the memory,
    and the memory's ``req_ready`` reaches only the buffers. One request per cycle
    passes through at full rate; each request takes two more cycles to reach the
    memory than with a direct connection. Requests of one master keep their order;
    requests of different masters are ordered by the round-robin grant (the master
    after the last one granted goes first).

    The master of each read granted is remembered in a FIFO of ``max_reads``
    entries, so in-order read responses return to the master that asked; when that
    FIFO is full, no further read is granted.

    With ``compact`` (for iCE40-class FPGAs) nothing is buffered: a grant register
    names the one master connected straight through to the memory, so its request
    reaches the memory in the cycle it is offered and the memory's ``req_ready`` is
    its ``req_ready``. Each cycle the granted master's request is not offered or is
    taken, the grant moves to the first master after it, in round-robin order, that
    offers a request (staying if none other does); a master not granted waits at
    least one cycle. ``pending`` is always 0. A master's ``req_valid`` must not
    depend on its ``req_ready`` (none of the VPU's does). ``max_reads`` of
    ``dram_latency + 2`` keeps one read per cycle going.

    Ports:
        master[i] (In DramPort(bus_bytes)): the i-th master's port (i = 0 .. masters-1).
        memory (Out DramPort(bus_bytes)): the shared port towards DRAM.
        pending (Out, masters): bit i is set while a request of master i was taken from it
            but not yet by the memory (its writes are not yet visible to other masters).
    """

    def __init__(self, bus_bytes: int, masters: int, max_reads: int = 16,
                 compact: bool = False):
        self.bus_bytes = bus_bytes
        self.masters = masters
        self.max_reads = max_reads
        self.compact = compact
        members = {f"master{i}": In(DramPort(bus_bytes)) for i in range(masters)}
        members["memory"] = Out(DramPort(bus_bytes))
        members["pending"] = Out(masters)
        super().__init__(members)

    def port(self, index: int):
        """Return the interface of master ``index``."""
        return getattr(self, f"master{index}")

    def elaborate(self, platform):
        if self.compact:
            return self._elaborate_compact()
        m = Module()
        n, bus = self.masters, self.bus_bytes
        owner_width = max(1, (n - 1).bit_length())
        m.submodules.owners = owners = fifo.SyncFIFO(width=owner_width, depth=self.max_reads)
        request_layout = data.StructLayout({
            "addr": DRAM_ADDRESS_BITS, "we": 1, "wdata": 8 * bus, "wmask": bus})
        ports = [self.port(i) for i in range(n)]
        memory = self.memory

        # ---- per-master request buffers ----
        buffers, heads = [], []
        for i, port in enumerate(ports):
            buffer = m.submodules[f"requests{i}"] = fifo.SyncFIFO(width=request_layout.size,
                                                                   depth=2)
            incoming = data.View(request_layout, buffer.w_data)
            m.d.comb += [
                incoming.addr.eq(port.req_addr), incoming.we.eq(port.req_we),
                incoming.wdata.eq(port.req_wdata), incoming.wmask.eq(port.req_wmask),
                buffer.w_en.eq(port.req_valid),
                port.req_ready.eq(buffer.w_rdy),
            ]
            buffers.append(buffer)
            heads.append(data.View(request_layout, buffer.r_data))

        # ---- grant: round-robin over the buffer heads, into the output register ----
        out_valid = Signal()
        out_owner = Signal(owner_width)
        out = Signal(request_layout)
        free = ~out_valid | memory.req_ready
        last = Signal(range(max(n, 2)))
        grant = Signal(range(max(n, 2)))
        any_request = Signal()
        eligible = [Signal(name=f"eligible{i}") for i in range(n)]
        for i in range(n):
            m.d.comb += eligible[i].eq(buffers[i].r_rdy & (heads[i].we | owners.w_rdy))
        m.d.comb += any_request.eq(Cat(*eligible).any())
        # One fixed-priority chain per value of ``last`` (no arithmetic on the grant path).
        with m.Switch(last):
            for previous in range(n):
                with m.Case(previous):
                    order = [(previous + 1 + offset) % n for offset in range(n)]
                    for i in reversed(order):
                        with m.If(eligible[i]):
                            m.d.comb += grant.eq(i)
        with m.If(free):
            m.d.sync += out_valid.eq(any_request)
            with m.If(any_request):
                m.d.sync += [last.eq(grant), out_owner.eq(grant)]
                for i in range(n):
                    with m.If(grant == i):
                        m.d.comb += buffers[i].r_en.eq(1)
                        m.d.sync += out.eq(heads[i])
        m.d.comb += [
            memory.req_valid.eq(out_valid),
            memory.req_addr.eq(out.addr),
            memory.req_we.eq(out.we),
            memory.req_wdata.eq(out.wdata),
            memory.req_wmask.eq(out.wmask),
            owners.w_en.eq(free & any_request & ~Cat(*[heads[i].we & (grant == i)
                                                      for i in range(n)]).any()),
            owners.w_data.eq(grant),
            owners.r_en.eq(memory.resp_valid),
            self.pending.eq(Cat(*[buffers[i].r_rdy | (out_valid & (out_owner == i))
                                  for i in range(n)])),
        ]
        for i, port in enumerate(ports):
            m.d.comb += [
                port.resp_rdata.eq(memory.resp_rdata),
                port.resp_valid.eq(memory.resp_valid & owners.r_rdy & (owners.r_data == i)),
            ]
        return m

    def _elaborate_compact(self):
        m = Module()
        n = self.masters
        owner_width = max(1, (n - 1).bit_length())
        m.submodules.owners = owners = fifo.SyncFIFO(width=owner_width, depth=self.max_reads)
        ports = [self.port(i) for i in range(n)]
        memory = self.memory

        grant = Signal(range(max(n, 2)))
        offered = [Signal(name=f"offered{i}") for i in range(n)]  # may be taken now
        for i, port in enumerate(ports):
            m.d.comb += offered[i].eq(port.req_valid & (port.req_we | owners.w_rdy))
        with m.Switch(grant):
            for i, port in enumerate(ports):
                with m.Case(i):
                    m.d.comb += [
                        memory.req_valid.eq(offered[i]),
                        memory.req_addr.eq(port.req_addr),
                        memory.req_we.eq(port.req_we),
                        memory.req_wdata.eq(port.req_wdata),
                        memory.req_wmask.eq(port.req_wmask),
                        port.req_ready.eq(memory.req_ready & offered[i]),
                    ]
        taken = memory.req_valid & memory.req_ready
        # One fixed-priority chain per grant: the masters after it first, itself last.
        with m.If(~memory.req_valid | taken):
            with m.Switch(grant):
                for current in range(n):
                    with m.Case(current):
                        for i in reversed([(current + 1 + k) % n for k in range(n)]):
                            with m.If(ports[i].req_valid):
                                m.d.sync += grant.eq(i)
        m.d.comb += [
            owners.w_en.eq(taken & ~memory.req_we),
            owners.w_data.eq(grant),
            owners.r_en.eq(memory.resp_valid),
            self.pending.eq(0),
        ]
        for i, port in enumerate(ports):
            m.d.comb += [
                port.resp_rdata.eq(memory.resp_rdata),
                port.resp_valid.eq(memory.resp_valid & owners.r_rdy & (owners.r_data == i)),
            ]
        return m
