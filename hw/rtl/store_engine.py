"""The store engine: STORE's 2-D strided DMA from scratchpad or accumulator rows to DRAM."""

from amaranth import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..config import DRAM_ADDRESS_BITS, INSTRUCTION_BITS
from ..isa import MEMORIES, Opcode
from .decoder import element_bytes, instruction_view
from .memories import RowReadPort
from .ports import DramPort

SP, ACC = MEMORIES.index("sp"), MEMORIES.index("acc")


class StoreEngine(wiring.Component):
    """Execute one STORE: write on-chip rows to a 2-D block of DRAM elements.

    Element (y, x) is row ``src + y * x_size + x``; its ``lanes`` int8 bytes
    (scratchpad) or little-endian int32 (accumulator) go to DRAM at any byte
    address as the masked bus beats that cover them, one beat per cycle while
    DRAM accepts. A row read in cycle t is masked and shifted to its byte offset
    from the memory's output into a register at the end of t+1 (block-RAM outputs
    are slow) and offered from t+2; the next row is read while the previous one is
    shifted or its last beat offered, so rows follow each other without a gap. The
    STORE completes when its last beat is taken by DRAM.

    With ``config.compact`` the row is not copied: it stays on the memory's output
    (read ports hold their data) while its beats are offered, from t+1, and the next
    row is read in the cycle the last beat is taken, so rows still follow each other
    without a gap. Beat k takes its bytes from the row's beat k and the top bytes of
    its beat k - 1 (registered as that beat was taken), selected by the element's
    byte offset. The DRAM address walks with the element being written, so no
    address is copied along the pipeline.

    Ports:
        start (In, 1): begin executing ``instruction`` (a STORE) at this edge.
        instruction (In, 128): the STORE, held while ``busy``.
        busy (Out, 1): high from the cycle after ``start`` until the last beat is taken.
        dram (Out DramPort): masked write requests.
        sp_read (Out RowReadPort): scratchpad rows (dim x int8).
        acc_read (Out RowReadPort): accumulator rows (dim x int32).
        write_bytes (Out, 16): DRAM bytes of the element whose first beat is taken this
            cycle (0 otherwise), for the DMA_WRITE_BYTES counter.
    """

    def __init__(self, config):
        self.config = config
        self.bus_bytes = config.dram_bus_bytes
        self.max_beats = -(-(self.bus_bytes - 1 + config.acc_row_bytes) // self.bus_bytes)
        super().__init__({
            "start": In(1),
            "instruction": In(INSTRUCTION_BITS),
            "busy": Out(1),
            "dram": Out(DramPort(self.bus_bytes)),
            "sp_read": Out(RowReadPort(8 * config.sp_row_bytes, config.sp_address_bits)),
            "acc_read": Out(RowReadPort(8 * config.acc_row_bytes, config.acc_address_bits)),
            "write_bytes": Out(16),
        })

    def elaborate(self, platform):
        if self.config.compact:
            return self._elaborate_compact()
        m = Module()
        cfg, bus = self.config, self.bus_bytes
        bus_shift = (bus - 1).bit_length()
        store = instruction_view(Opcode.STORE, self.instruction)
        row_bytes = cfg.acc_row_bytes

        size = element_bytes(m, store, cfg)

        # ---- read side: walk the block in row order ----
        remaining = Signal()
        y = Signal(8)
        x = Signal(8)
        on_chip_row = Signal(16)
        row_address = Signal(DRAM_ADDRESS_BITS)
        address = Signal(DRAM_ADDRESS_BITS)

        # ---- shift stage: the row read last cycle is on the memory's output ----
        shifting = Signal()
        shift_address = Signal(DRAM_ADDRESS_BITS)
        shift_offset = Signal(range(bus))
        m.d.comb += shift_offset.eq(shift_address[:bus_shift] if bus_shift else 0)

        # ---- write side: the element whose shifted beats are offered ----
        have = Signal()
        element_address = Signal(DRAM_ADDRESS_BITS)
        beat = Signal(range(self.max_beats + 1))
        offset = Signal(range(bus))
        m.d.comb += offset.eq(element_address[:bus_shift] if bus_shift else 0)
        total_beats = Signal(range(self.max_beats + 1))
        m.d.comb += total_beats.eq((offset + size + bus - 1) >> bus_shift)

        taken = self.dram.req_valid & self.dram.req_ready
        last_taken = taken & (beat == total_beats - 1)
        advance = Signal()  # the shifted row moves to the write side at this edge
        read = Signal()
        m.d.comb += [advance.eq(shifting & (~have | last_taken)),
                     read.eq(remaining & (~shifting | advance))]

        row = Mux(store.mem == ACC, self.acc_read.data, self.sp_read.data)
        byte_keep = Cat(*[Const(i) < size for i in range(row_bytes)])
        keep_bits = Cat(*[b.replicate(8) for b in byte_keep])
        span_bits = 8 * bus * self.max_beats
        shifted = Signal(span_bits)
        shifted_mask = Signal(bus * self.max_beats)
        with m.If(advance):
            m.d.sync += [shifted.eq((row & keep_bits) << (shift_offset * 8)),
                         shifted_mask.eq(byte_keep << shift_offset)]
        with m.Switch(beat):
            for k in range(self.max_beats):
                with m.Case(k):
                    m.d.comb += [
                        self.dram.req_wdata.eq(shifted[8 * bus * k:8 * bus * (k + 1)]),
                        self.dram.req_wmask.eq(shifted_mask[bus * k:bus * (k + 1)]),
                    ]
        m.d.comb += [
            self.dram.req_valid.eq(have),
            self.dram.req_we.eq(1),
            self.dram.req_addr.eq((element_address & ~(bus - 1)) + (beat << bus_shift)),
            self.write_bytes.eq(Mux(taken & (beat == 0), size, 0)),
            self.sp_read.addr.eq(on_chip_row),
            self.sp_read.en.eq(read & (store.mem == SP)),
            self.acc_read.addr.eq(on_chip_row),
            self.acc_read.en.eq(read & (store.mem == ACC)),
        ]
        with m.If(taken):
            m.d.sync += beat.eq(beat + 1)
        with m.If(advance):
            m.d.sync += [have.eq(1), beat.eq(0), element_address.eq(shift_address)]
        with m.Elif(last_taken):
            m.d.sync += have.eq(0)
        with m.If(read):
            m.d.sync += [shifting.eq(1), shift_address.eq(address),
                         on_chip_row.eq(on_chip_row + 1)]
            with m.If(x == store.x_size - 1):
                m.d.sync += [x.eq(0), y.eq(y + 1), row_address.eq(row_address + store.y_stride),
                             address.eq(row_address + store.y_stride)]
                with m.If(y == store.y_size - 1):
                    m.d.sync += remaining.eq(0)
            with m.Else():
                m.d.sync += [x.eq(x + 1), address.eq(address + store.x_stride)]
        with m.Elif(advance):
            m.d.sync += shifting.eq(0)

        m.d.comb += self.busy.eq(remaining | shifting | have)
        with m.If(self.start):
            m.d.sync += [remaining.eq(1), shifting.eq(0), have.eq(0), x.eq(0), y.eq(0),
                         beat.eq(0), on_chip_row.eq(store.src), row_address.eq(store.dram),
                         address.eq(store.dram)]
        return m

    def _elaborate_compact(self):
        m = Module()
        cfg, bus = self.config, self.bus_bytes
        bus_shift = (bus - 1).bit_length()
        store = instruction_view(Opcode.STORE, self.instruction)
        row_bytes = cfg.acc_row_bytes

        size = element_bytes(m, store, cfg)

        # ---- read side: walk the rows ----
        remaining = Signal()
        y = Signal(8)
        x = Signal(8)
        on_chip_row = Signal(max(cfg.sp_address_bits, cfg.acc_address_bits))

        # ---- write side: the element on the memory's output, at DRAM ``address`` ----
        have = Signal()
        have_last = Signal()  # it is the last element of its block row
        row_address = Signal(DRAM_ADDRESS_BITS)  # DRAM address of element (y, 0)
        address = Signal(DRAM_ADDRESS_BITS)      # DRAM address of the element written
        offset = Signal(range(bus))
        m.d.comb += offset.eq(address[:bus_shift] if bus_shift else 0)
        beat = Signal(range(self.max_beats))
        left = Signal(range(row_bytes + bus))    # element bytes from this beat's byte 0 on

        taken = self.dram.req_valid & self.dram.req_ready
        last_taken = taken & (left <= bus)
        read = Signal()  # the next row is read at this edge and written from the next cycle
        m.d.comb += read.eq(remaining & (~have | last_taken))

        # Byte i of beat k is byte (k * bus + i - offset) of the element: from the row's
        # beat k, or for i < offset from its beat k - 1, kept in ``previous`` as beat k - 1
        # was taken (beats past the row read 0). The pair is shifted up by offset bytes,
        # one stage of 2:1 multiplexers per offset bit.
        row = Signal(8 * bus * self.max_beats)
        m.d.comb += row.eq(Mux(store.mem == ACC, self.acc_read.data, self.sp_read.data))
        current, previous = Signal(8 * bus), Signal(8 * bus)
        with m.Switch(beat):
            for k in range(self.max_beats):
                with m.Case(k):
                    m.d.comb += current.eq(row[8 * bus * k:8 * bus * (k + 1)])
        pair = Cat(previous, current)
        for bit in range(bus_shift):
            step = 8 << bit
            pair = Mux(offset[bit], Cat(Const(0, step), pair[:-step]), pair)
        data = pair[8 * bus:]
        mask = Cat(*[((beat != 0) | (i >= offset)) & (i < left) for i in range(bus)])
        m.d.comb += [
            self.dram.req_valid.eq(have),
            self.dram.req_we.eq(1),
            self.dram.req_addr.eq(Cat(Const(0, bus_shift), address[bus_shift:] + beat)),
            self.dram.req_wdata.eq(data),
            self.dram.req_wmask.eq(mask),
            self.write_bytes.eq(Mux(taken & (beat == 0), size, 0)),
            self.sp_read.addr.eq(on_chip_row),
            self.sp_read.en.eq(read & (store.mem == SP)),
            self.acc_read.addr.eq(on_chip_row),
            self.acc_read.en.eq(read & (store.mem == ACC)),
        ]
        with m.If(taken):
            m.d.sync += [beat.eq(beat + 1), left.eq(left - bus), previous.eq(current)]
        # After an element's last beat the walk moves on to the next element.
        next_address = Signal(DRAM_ADDRESS_BITS)
        m.d.comb += next_address.eq(Mux(have_last, row_address, address)
                                    + Mux(have_last, store.y_stride, store.x_stride))
        with m.If(last_taken):
            m.d.sync += address.eq(next_address)
            with m.If(have_last):
                m.d.sync += row_address.eq(next_address)
        with m.If(read):
            entering_offset = Mux(last_taken, next_address[:bus_shift], offset) if bus_shift else 0
            m.d.sync += [have.eq(1), have_last.eq(x + 1 == store.x_size), beat.eq(0),
                         left.eq(size + entering_offset),
                         on_chip_row.eq(on_chip_row + 1)]
            with m.If(x + 1 == store.x_size):
                m.d.sync += [x.eq(0), y.eq(y + 1)]
                with m.If(y + 1 == store.y_size):
                    m.d.sync += remaining.eq(0)
            with m.Else():
                m.d.sync += x.eq(x + 1)
        with m.Elif(last_taken):
            m.d.sync += have.eq(0)

        m.d.comb += self.busy.eq(remaining | have)
        with m.If(self.start):
            m.d.sync += [remaining.eq(1), have.eq(0), x.eq(0), y.eq(0),
                         on_chip_row.eq(store.src), row_address.eq(store.dram),
                         address.eq(store.dram)]
        return m
