"""The board's DRAM: on-chip RAM shared by the VPU and the host link."""

from __future__ import annotations

from amaranth import Cat, ClockSignal, Instance, Module, Mux, Signal, unsigned
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from ..rtl.ports import DramPort
from .host_link import ByteDramSignature

#: Where a board keeps its DRAM: the FPGA's block RAMs, or the iCE40UP5K's four 32 KiB
#: single-port RAMs (SB_SPRAM256KA).
DRAM_MEMORIES = ("block-ram", "spram")
#: One SB_SPRAM256KA: 16384 words of 16 bits.
SPRAM_WORDS = 16384
SPRAM_BYTES = 2 * SPRAM_WORDS
#: The UP5K has four of them.
SPRAM_COUNT = 4


class RowStorage(wiring.Signature):
    """One access per cycle to ``depth`` rows of ``bus_bytes`` bytes, seen from the user.

    Members:
        addr (Out): the row read, and written where ``w_en`` has bits set.
        w_data (Out, 8 * bus_bytes): the row's new bytes.
        w_en (Out, bus_bytes): write enable of each byte.
        r_data (In, 8 * bus_bytes): the row at the ``addr`` of the previous cycle.
    """

    def __init__(self, depth: int, bus_bytes: int):
        super().__init__({"addr": Out(range(depth)), "w_data": Out(8 * bus_bytes),
                          "w_en": Out(bus_bytes), "r_data": In(8 * bus_bytes)})


class BlockRamStorage(wiring.Component):
    """``depth`` rows of ``bus_bytes`` bytes in the FPGA's block RAM (one memory)."""

    def __init__(self, depth: int, bus_bytes: int):
        self.depth = depth
        self.bus_bytes = bus_bytes
        super().__init__({"port": In(RowStorage(depth, bus_bytes))})

    def elaborate(self, platform):
        m = Module()
        m.submodules.storage = storage = memory.Memory(
            shape=unsigned(8 * self.bus_bytes), depth=self.depth, init=[])
        write = storage.write_port(granularity=8)
        read = storage.read_port()
        m.d.comb += [write.addr.eq(self.port.addr), read.addr.eq(self.port.addr),
                     write.data.eq(self.port.w_data), write.en.eq(self.port.w_en),
                     self.port.r_data.eq(read.data)]
        return m


class SpramStorage(wiring.Component):
    """Rows of 4 bytes in the iCE40UP5K's SB_SPRAM256KA single-port RAMs.

    Two SPRAMs side by side make a bank of 16384 rows (64 KiB), their nibble write
    masks driven from the byte enables; ``depth`` above 16384 uses a second bank, the
    bank selected by the row's top bit (the read data's bank by the previous cycle's).
    Read data appears one cycle after the address, as from a block RAM. Under
    simulation (no platform) a behavioural memory of the same shape stands in for the
    primitives, so the simulated board runs the rest of this logic.
    """

    BUS_BYTES = 4

    def __init__(self, depth: int):
        self.depth = depth
        self.banks = -(-depth // SPRAM_WORDS)
        super().__init__({"port": In(RowStorage(depth, self.BUS_BYTES))})

    def elaborate(self, platform):
        m = Module()
        port = self.port
        if platform is None:
            m.submodules.model = model = BlockRamStorage(self.depth, self.BUS_BYTES)
            wiring.connect(m, wiring.flipped(port), model.port)
            return m
        row = port.addr[:14]
        bank = port.addr[14:] if self.banks > 1 else 0
        read_bank = Signal(range(max(self.banks, 2)))
        m.d.sync += read_bank.eq(bank)
        outputs = []
        for b in range(self.banks):
            selected = bank == b
            halves = []
            for half in range(2):
                data_out = Signal(16, name=f"spram{b}_{half}_data")
                enables = port.w_en[2 * half:2 * half + 2]
                m.submodules[f"spram{b}_{half}"] = Instance(
                    "SB_SPRAM256KA",
                    i_ADDRESS=row, i_DATAIN=port.w_data[16 * half:16 * half + 16],
                    i_MASKWREN=Cat(enables[0], enables[0], enables[1], enables[1]),
                    i_WREN=selected & enables.any(), i_CHIPSELECT=1,
                    i_CLOCK=ClockSignal("sync"), i_STANDBY=0, i_SLEEP=0, i_POWEROFF=1,
                    o_DATAOUT=data_out)
                halves.append(data_out)
            outputs.append(Cat(*halves))
        m.d.comb += port.r_data.eq(outputs[0] if self.banks == 1
                                   else Mux(read_bank, outputs[1], outputs[0]))
        return m


def check_dram(size_bytes: int, bus_bytes: int, memory: str) -> None:
    """Raise ValueError naming what is wrong when ``BoardDram`` cannot be built so."""
    if size_bytes <= 0 or size_bytes % bus_bytes:
        raise ValueError(f"DRAM size {size_bytes} B must be a positive multiple of the "
                         f"{bus_bytes}-byte bus")
    if memory not in DRAM_MEMORIES:
        raise ValueError(f"DRAM memory {memory!r} is not one of {', '.join(DRAM_MEMORIES)}")
    if memory == "spram" and bus_bytes != SpramStorage.BUS_BYTES:
        raise ValueError(f"a DRAM in SPRAM needs a {SpramStorage.BUS_BYTES}-byte bus, "
                         f"not {bus_bytes}")
    if memory == "spram" and size_bytes > SPRAM_COUNT * SPRAM_BYTES:
        raise ValueError(f"{size_bytes} B of DRAM is more than the "
                         f"{SPRAM_COUNT * SPRAM_BYTES} B of the UP5K's SPRAMs")


class BoardDram(wiring.Component):
    """A ``size_bytes`` DRAM with a VPU port and a byte-wide host port.

    The VPU port follows ``kiln.hw.rtl.ports.DramPort``: one beat of ``bus_bytes``
    bytes per request, reads answered in order two cycles after they are taken (the
    block RAM's read, then a register) or, from SPRAM, one cycle after. Addresses
    wrap modulo ``size_bytes``. The host port has priority: while it reads or writes,
    the VPU port is not ready. ``memory`` is one of DRAM_MEMORIES: block RAM, or the
    iCE40UP5K's SPRAMs (4-byte bus only).

    Ports:
        vpu (In, DramPort(bus_bytes)): the VPU's memory port.
        host (In, ByteDramSignature): the host link's port, one byte per access, read
            data one cycle after ``r_en``.
    """

    def __init__(self, size_bytes: int, bus_bytes: int, memory: str = "block-ram"):
        check_dram(size_bytes, bus_bytes, memory)
        self.size_bytes = size_bytes
        self.bus_bytes = bus_bytes
        self.memory = memory
        super().__init__({
            "vpu": In(DramPort(bus_bytes)),
            "host": In(ByteDramSignature()),
        })

    def elaborate(self, platform):
        m = Module()
        depth = self.size_bytes // self.bus_bytes
        lane_bits = (self.bus_bytes - 1).bit_length()
        if self.memory == "spram":
            m.submodules.storage = storage = SpramStorage(depth)
        else:
            m.submodules.storage = storage = BlockRamStorage(depth, self.bus_bytes)
        rows = storage.port

        host_busy = self.host.w_en | self.host.r_en
        vpu_taken = self.vpu.req_valid & ~host_busy
        host_lane = self.host.addr[:lane_bits] if lane_bits else 0
        read_lane = Signal(max(lane_bits, 1))

        m.d.comb += self.vpu.req_ready.eq(~host_busy)
        with m.If(host_busy):
            m.d.comb += [
                rows.addr.eq(self.host.addr[lane_bits:]),
                rows.w_data.eq(self.host.w_data.replicate(self.bus_bytes)),
                rows.w_en.eq(self.host.w_en << host_lane),
            ]
        with m.Else():
            m.d.comb += [
                rows.addr.eq(self.vpu.req_addr[lane_bits:]),
                rows.w_data.eq(self.vpu.req_wdata),
                rows.w_en.eq(Mux(vpu_taken & self.vpu.req_we, self.vpu.req_wmask, 0)),
            ]
        # Block-RAM read data is registered once more off the RAMs' outputs (slow, and
        # muxed across the RAMs that make up the depth), so the VPU sees it two cycles
        # after; the SPRAMs' registered outputs go to the VPU directly, one cycle after.
        read_taken = Signal()
        m.d.sync += read_taken.eq(vpu_taken & ~self.vpu.req_we)
        if self.memory == "spram":
            m.d.comb += [self.vpu.resp_valid.eq(read_taken), self.vpu.resp_rdata.eq(rows.r_data)]
        else:
            m.d.sync += [self.vpu.resp_valid.eq(read_taken), self.vpu.resp_rdata.eq(rows.r_data)]
        if lane_bits:
            m.d.sync += read_lane.eq(host_lane)
            m.d.comb += self.host.r_data.eq(rows.r_data.word_select(read_lane, 8))
        else:
            m.d.comb += self.host.r_data.eq(rows.r_data)
        return m
