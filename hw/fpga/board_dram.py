"""The board's DRAM: on-chip block RAM shared by the VPU and the host link."""

from __future__ import annotations

from amaranth import Module, Mux, Signal, unsigned
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In

from ..rtl.ports import DramPort
from .host_link import ByteDramSignature


class BlockRamDram(wiring.Component):
    """A ``size_bytes`` DRAM in block RAM with a VPU port and a byte-wide host port.

    The VPU port follows ``kiln.hw.rtl.ports.DramPort``: one beat of ``bus_bytes``
    bytes per request, reads answered in order two cycles after they are taken (the
    block RAM's read, then a register).
    Addresses wrap modulo ``size_bytes``. The host port has priority: while it
    reads or writes, the VPU port is not ready.

    Ports:
        vpu (In, DramPort(bus_bytes)): the VPU's memory port.
        host (In, ByteDramSignature): the host link's port, one byte per access, read
            data one cycle after ``r_en``.
    """

    def __init__(self, size_bytes: int, bus_bytes: int):
        if size_bytes <= 0 or size_bytes % bus_bytes:
            raise ValueError(f"DRAM size {size_bytes} B must be a positive multiple of the "
                             f"{bus_bytes}-byte bus")
        self.size_bytes = size_bytes
        self.bus_bytes = bus_bytes
        super().__init__({
            "vpu": In(DramPort(bus_bytes)),
            "host": In(ByteDramSignature()),
        })

    def elaborate(self, platform):
        m = Module()
        depth = self.size_bytes // self.bus_bytes
        lane_bits = (self.bus_bytes - 1).bit_length()
        m.submodules.storage = storage = memory.Memory(
            shape=unsigned(8 * self.bus_bytes), depth=depth, init=[])
        write = storage.write_port(granularity=8)
        read = storage.read_port()

        host_busy = self.host.w_en | self.host.r_en
        vpu_taken = self.vpu.req_valid & ~host_busy
        host_lane = self.host.addr[:lane_bits] if lane_bits else 0
        host_row = self.host.addr[lane_bits:]
        vpu_row = self.vpu.req_addr[lane_bits:]
        read_lane = Signal(max(lane_bits, 1))

        m.d.comb += self.vpu.req_ready.eq(~host_busy)
        with m.If(host_busy):
            m.d.comb += [
                write.addr.eq(host_row),
                read.addr.eq(host_row),
                write.data.eq(self.host.w_data.replicate(self.bus_bytes)),
                write.en.eq(self.host.w_en << host_lane),
            ]
        with m.Else():
            m.d.comb += [
                write.addr.eq(vpu_row),
                read.addr.eq(vpu_row),
                write.data.eq(self.vpu.req_wdata),
                write.en.eq(Mux(vpu_taken & self.vpu.req_we, self.vpu.req_wmask, 0)),
            ]
        # Read data is registered once more off the block RAMs' outputs (slow, and muxed
        # across the RAMs that make up the depth), so the VPU sees it two cycles after.
        read_taken = Signal()
        m.d.sync += [read_taken.eq(vpu_taken & ~self.vpu.req_we),
                     self.vpu.resp_valid.eq(read_taken),
                     self.vpu.resp_rdata.eq(read.data)]
        if lane_bits:
            m.d.sync += read_lane.eq(host_lane)
            m.d.comb += self.host.r_data.eq(read.data.word_select(read_lane, 8))
        else:
            m.d.comb += self.host.r_data.eq(read.data)
        return m
