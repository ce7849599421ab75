"""On-chip row memories: the int8 scratchpad and the int32 accumulator."""

from amaranth import ClockDomain, ClockSignal, Module
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out


class RowReadPort(wiring.Signature):
    """A synchronous row read port, seen from the reader.

    Members: ``addr`` (Out, address bits) and ``en`` (Out, 1) in one cycle give
    ``data`` (In, row bits) in the next; ``data`` holds while ``en`` is low.
    """

    def __init__(self, row_bits: int, address_bits: int):
        super().__init__({"addr": Out(address_bits), "en": Out(1), "data": In(row_bits)})


class RowWritePort(wiring.Signature):
    """A row write port, seen from the writer: ``data`` goes to ``addr`` at the edge ``en`` is high."""

    def __init__(self, row_bits: int, address_bits: int):
        super().__init__({"addr": Out(address_bits), "data": Out(row_bits), "en": Out(1)})


class RowMemory(wiring.Component):
    """``depth`` rows of ``row_bits`` bits with ``read_ports`` read ports and one write port.

    Reads take one cycle; a read of the row written at the same edge returns the
    old row. Lane i of a row is bits ``[i*lane_bits, (i+1)*lane_bits)``.

    With ``write_on_falling_edge`` (compact VPUs) a write lands at the falling clock
    edge in the middle of its cycle instead, so a read at the next rising edge returns
    the new row. Read and write ports then have no clock edge in common, and iCE40
    block RAMs need no bypass logic for a read of the row being written (about one
    LUT and one flip-flop per read data bit otherwise); the write port's inputs get
    half a cycle.

    Ports:
        read<i> (In RowReadPort): read port i, i = 0 .. read_ports-1.
        write (In RowWritePort): the write port.
    """

    def __init__(self, row_bits: int, depth: int, read_ports: int,
                 write_on_falling_edge: bool = False):
        self.row_bits, self.depth, self.read_ports = row_bits, depth, read_ports
        self.write_on_falling_edge = write_on_falling_edge
        self.address_bits = max(1, (depth - 1).bit_length())
        members = {f"read{i}": In(RowReadPort(row_bits, self.address_bits))
                   for i in range(read_ports)}
        members["write"] = In(RowWritePort(row_bits, self.address_bits))
        super().__init__(members)

    def read_port(self, index: int):
        """Return the interface of read port ``index``."""
        return getattr(self, f"read{index}")

    def elaborate(self, platform):
        m = Module()
        m.submodules.rows = rows = memory.Memory(shape=self.row_bits, depth=self.depth, init=[])
        if self.write_on_falling_edge:
            m.domains.write = write_domain = ClockDomain(clk_edge="neg", local=True,
                                                         reset_less=True)
            m.d.comb += write_domain.clk.eq(ClockSignal("sync"))
            write = rows.write_port(domain="write")
        else:
            write = rows.write_port()
        m.d.comb += [write.addr.eq(self.write.addr), write.data.eq(self.write.data),
                     write.en.eq(self.write.en)]
        for i in range(self.read_ports):
            port, outer = rows.read_port(transparent_for=()), self.read_port(i)
            m.d.comb += [port.addr.eq(outer.addr), port.en.eq(outer.en),
                         outer.data.eq(port.data)]
        return m


def scratchpad(config, read_ports: int) -> RowMemory:
    """Return the scratchpad: ``config.sp_depth`` rows of ``config.dim`` int8 lanes."""
    return RowMemory(config.dim * config.input_bits, config.sp_depth, read_ports,
                     write_on_falling_edge=config.compact)


def accumulator(config, read_ports: int) -> RowMemory:
    """Return the accumulator: ``config.acc_depth`` rows of ``config.dim`` int32 lanes."""
    return RowMemory(config.dim * config.acc_bits, config.acc_depth, read_ports,
                     write_on_falling_edge=config.compact)
