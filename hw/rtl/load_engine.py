"""The load engine: LOAD's 2-D strided DMA from DRAM into scratchpad or accumulator rows."""

from amaranth import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, fifo, memory, wiring
from amaranth.lib.wiring import In, Out

from ..config import DRAM_ADDRESS_BITS, INSTRUCTION_BITS
from ..isa import MEMORIES, Opcode
from .decoder import element_bytes, instruction_view
from .memories import RowWritePort
from .ports import DramPort

SP, ACC = MEMORIES.index("sp"), MEMORIES.index("acc")


class BeatBuffer(wiring.Component):
    """A first-in first-out buffer of DRAM beats in block RAM, for a master that never
    has more than ``depth`` beats requested or buffered (it counts credits).

    A beat written in cycle t can be read from cycle t+2: the block RAM is read
    into the output register at the edge ``r_data`` is refilled, while the entry
    read is never the one being written (no read-during-write behaviour is needed,
    which iCE40 block RAM lacks). Writing more than ``depth`` unread beats loses data.

    Ports:
        w_data (In, width), w_en (In, 1): append ``w_data`` at this edge.
        r_data (Out, width): the oldest beat, valid while ``r_rdy``.
        r_rdy (Out, 1): ``r_data`` holds a beat.
        r_en (In, 1): drop ``r_data`` at this edge (when ``r_rdy``).
    """

    def __init__(self, width: int, depth: int):
        self.width, self.depth = width, depth
        super().__init__({"w_data": In(width), "w_en": In(1), "r_data": Out(width),
                          "r_rdy": Out(1), "r_en": In(1)})

    def elaborate(self, platform):
        m = Module()
        # Pointers wrap freely: the storage has a power of two entries above depth.
        pointer_bits = self.depth.bit_length()
        m.submodules.storage = storage = memory.Memory(
            shape=self.width, depth=1 << pointer_bits, init=[], attrs={"no_rw_check": 1})
        write, read = storage.write_port(), storage.read_port(domain="comb")
        produce = Signal(pointer_bits)
        consume = Signal(pointer_bits)
        refill = (produce != consume) & (~self.r_rdy | self.r_en)
        m.d.comb += [write.addr.eq(produce), write.data.eq(self.w_data),
                     write.en.eq(self.w_en), read.addr.eq(consume)]
        with m.If(self.w_en):
            m.d.sync += produce.eq(produce + 1)
        with m.If(refill):
            m.d.sync += [consume.eq(consume + 1), self.r_data.eq(read.data),
                         self.r_rdy.eq(1)]
        with m.Elif(self.r_en):
            m.d.sync += self.r_rdy.eq(0)
        return m


class LoadEngine(wiring.Component):
    """Execute one LOAD: read a padded 2-D block of elements from DRAM into on-chip rows.

    Element (y, x) of the padded block becomes row ``dst + y * X + x`` (X the padded
    width), so rows are written in increasing order. Padding elements become zero
    rows without touching DRAM. Each real element is ``lanes`` bytes (scratchpad) or
    ``lanes`` little-endian int32 (accumulator) at any byte address; the engine
    reads the bus beats covering it, pipelined up to ``buffer_depth`` beats ahead
    (one beat per cycle once the DRAM answers), aligns the row when its last beat
    arrives into an output register and writes it from there in a later cycle (so
    no path runs from the beat buffer through the alignment into a block RAM). The
    row waits in that register while the compute engine owns the write port.

    With ``config.compact`` the beat buffer is a `BeatBuffer` in block RAM (one
    cycle more from a response to its use), only each element's padding flag and
    byte offset are queued (``dram_latency + 3`` elements at most), and the row is
    assembled in the output register itself: each beat, rotated by the element's
    byte offset, is written into the bytes of the row it covers as it leaves the
    buffer (bytes past the element's lanes stay zero from ``start``; a padding
    element clears the row). A beat is taken while the register is empty or written
    at the same edge, so an element of n beats occupies the completion side n
    cycles (a padding element one).

    Ports:
        start (In, 1): begin executing ``instruction`` (a LOAD) at this edge.
        instruction (In, 128): the LOAD, held while ``busy``.
        busy (Out, 1): high from the cycle after ``start`` until the last row is written.
        dram (Out DramPort): read requests.
        sp_write (Out RowWritePort): scratchpad rows (dim x int8).
        sp_write_ready (In, 1): the scratchpad write port is free this cycle.
        acc_write (Out RowWritePort): accumulator rows (dim x int32).
        acc_write_ready (In, 1): the accumulator write port is free this cycle.
        read_bytes (Out, 16): DRAM bytes of the element whose first beat is requested
            this cycle (0 otherwise), for the DMA_READ_BYTES counter.
    """

    def __init__(self, config, buffer_depth: int = 32):
        self.config = config
        self.bus_bytes = config.dram_bus_bytes
        self.buffer_depth = buffer_depth
        acc_row_bytes = config.acc_row_bytes
        self.max_beats = -(-(self.bus_bytes - 1 + acc_row_bytes) // self.bus_bytes)
        sp_row_bits, acc_row_bits = 8 * config.sp_row_bytes, 8 * acc_row_bytes
        super().__init__({
            "start": In(1),
            "instruction": In(INSTRUCTION_BITS),
            "busy": Out(1),
            "dram": Out(DramPort(self.bus_bytes)),
            "sp_write": Out(RowWritePort(sp_row_bits, config.sp_address_bits)),
            "sp_write_ready": In(1),
            "acc_write": Out(RowWritePort(acc_row_bits, config.acc_address_bits)),
            "acc_write_ready": In(1),
            "read_bytes": Out(16),
        })

    def elaborate(self, platform):
        if self.config.compact:
            return self._elaborate_compact()
        m = Module()
        cfg, bus = self.config, self.bus_bytes
        bus_shift = (bus - 1).bit_length()
        load = instruction_view(Opcode.LOAD, self.instruction)
        row_bytes = cfg.acc_row_bytes

        descriptor_layout = data.StructLayout({
            "pad": 1, "offset": range(bus), "beats": range(self.max_beats + 1),
            "bytes": range(row_bytes + 1)})
        m.submodules.beats = beats = fifo.SyncFIFO(width=8 * bus,
                                                           depth=self.buffer_depth)
        m.submodules.elements = elements = fifo.SyncFIFO(
            width=descriptor_layout.size, depth=self.buffer_depth)

        # ---- issue: walk the padded block, request the beats of each real element ----
        size = element_bytes(m, load, cfg)
        width = Signal(12)
        height = Signal(12)
        m.d.comb += [width.eq(load.pad_left + load.x_size + load.pad_right),
                     height.eq(load.pad_top + load.y_size + load.pad_bottom)]

        issuing = Signal()
        y = Signal(12)
        x = Signal(12)
        row_address = Signal(DRAM_ADDRESS_BITS)   # DRAM address of real element (y, 0)
        address = Signal(DRAM_ADDRESS_BITS)       # DRAM address of element (y, x)
        beat = Signal(range(self.max_beats + 1))  # beats of this element already requested
        credits = Signal(range(self.buffer_depth + 1), init=self.buffer_depth)

        is_pad = ((y < load.pad_top) | (y >= load.pad_top + load.y_size)
                  | (x < load.pad_left) | (x >= load.pad_left + load.x_size))
        offset = Signal(range(bus))
        m.d.comb += offset.eq(address[:bus_shift] if bus_shift else 0)
        total_beats = Signal(range(self.max_beats + 1))
        m.d.comb += total_beats.eq((offset + size + bus - 1) >> bus_shift)

        descriptor = data.View(descriptor_layout, elements.w_data)
        m.d.comb += [descriptor.pad.eq(is_pad), descriptor.offset.eq(offset),
                     descriptor.beats.eq(total_beats), descriptor.bytes.eq(size)]

        request = Signal()
        advance = Signal()
        m.d.comb += [
            self.dram.req_valid.eq(issuing & ~is_pad & (credits != 0)
                                   & ((beat != 0) | elements.w_rdy)),
            self.dram.req_addr.eq((address & ~(bus - 1)) + (beat << bus_shift)),
            self.dram.req_we.eq(0),
            request.eq(self.dram.req_valid & self.dram.req_ready),
            elements.w_en.eq(Mux(is_pad, issuing & elements.w_rdy, request & (beat == 0))),
            self.read_bytes.eq(Mux(request & (beat == 0), size, 0)),
            advance.eq(Mux(is_pad, elements.w_en, request & (beat == total_beats - 1))),
        ]
        with m.If(request):
            m.d.sync += beat.eq(Mux(advance, 0, beat + 1))
        with m.If(advance):
            with m.If(x == width - 1):
                m.d.sync += x.eq(0)
                with m.If(y == height - 1):
                    m.d.sync += issuing.eq(0)
                m.d.sync += y.eq(y + 1)
                with m.If(~((y < load.pad_top) | (y >= load.pad_top + load.y_size))):
                    m.d.sync += [row_address.eq(row_address + load.y_stride),
                                 address.eq(row_address + load.y_stride)]
                with m.Else():
                    m.d.sync += address.eq(row_address)
            with m.Else():
                m.d.sync += x.eq(x + 1)
                with m.If(~is_pad):
                    m.d.sync += address.eq(address + load.x_stride)

        # ---- complete: gather each element's beats, align, write its row ----
        head = data.View(descriptor_layout, elements.r_data)
        slots = [Signal(8 * bus, name=f"slot{i}") for i in range(self.max_beats)]
        gathered = Signal(range(self.max_beats + 1))
        last_beat = gathered == head.beats - 1
        current = [Mux(gathered == i, beats.r_data, slots[i]) for i in range(self.max_beats)]
        aligned = Signal(8 * row_bytes)
        m.d.comb += aligned.eq(Cat(*current) >> (head.offset * 8))
        row = Signal(8 * row_bytes)
        byte_keep = Cat(*[Const(i) < head.bytes for i in range(row_bytes)])
        m.d.comb += row.eq(aligned & Cat(*[b.replicate(8) for b in byte_keep]))

        # The aligned row goes into an output register, written from there as soon as the
        # memory's write port is free; the next row may enter as the register empties.
        write_ready = Mux(load.mem == ACC, self.acc_write_ready, self.sp_write_ready)
        out_valid = Signal()
        out_row = Signal(8 * row_bytes)
        out_address = Signal(16)
        out_free = ~out_valid | write_ready
        row_done = Signal()
        with m.If(elements.r_rdy):
            with m.If(head.pad):
                m.d.comb += row_done.eq(out_free)
            with m.Elif(beats.r_rdy):
                with m.If(last_beat):
                    m.d.comb += [row_done.eq(out_free), beats.r_en.eq(out_free)]
                with m.Else():
                    m.d.comb += beats.r_en.eq(1)
                    m.d.sync += gathered.eq(gathered + 1)
                    for i in range(self.max_beats):
                        with m.If(gathered == i):
                            m.d.sync += slots[i].eq(beats.r_data)
        with m.If(row_done):
            m.d.sync += gathered.eq(0)
        m.d.comb += [
            elements.r_en.eq(row_done),
            beats.w_en.eq(self.dram.resp_valid),
            beats.w_data.eq(self.dram.resp_rdata),
        ]
        on_chip_row = Signal(16)
        with m.If(row_done):
            m.d.sync += [out_valid.eq(1), out_row.eq(Mux(head.pad, 0, row)),
                         out_address.eq(on_chip_row), on_chip_row.eq(on_chip_row + 1)]
        with m.Elif(write_ready):
            m.d.sync += out_valid.eq(0)
        m.d.comb += [
            self.sp_write.addr.eq(out_address),
            self.sp_write.data.eq(out_row[:8 * cfg.sp_row_bytes]),
            self.sp_write.en.eq(out_valid & write_ready & (load.mem == SP)),
            self.acc_write.addr.eq(out_address),
            self.acc_write.data.eq(out_row),
            self.acc_write.en.eq(out_valid & write_ready & (load.mem == ACC)),
        ]

        self._count_credits(m, credits, request, beats.r_en,
                            pending=issuing | elements.r_rdy | out_valid)
        with m.If(self.start):
            m.d.sync += [issuing.eq(1), y.eq(0), x.eq(0), beat.eq(0), gathered.eq(0),
                         on_chip_row.eq(load.dst), credits.eq(self.buffer_depth)]
            m.d.sync += [row_address.eq(load.dram), address.eq(load.dram)]
        return m

    def _count_credits(self, m, credits, request, popped, pending):
        """Track the beat buffer's free slots not yet promised (a slot is promised when its
        beat is requested, freed when it is popped); ``busy`` while ``pending`` or while a
        slot is promised."""
        with m.If(request & ~popped):
            m.d.sync += credits.eq(credits - 1)
        with m.Elif(popped & ~request):
            m.d.sync += credits.eq(credits + 1)
        m.d.comb += self.busy.eq(pending | (credits != self.buffer_depth))

    def _elaborate_compact(self):
        m = Module()
        cfg, bus = self.config, self.bus_bytes
        bus_shift = (bus - 1).bit_length()
        load = instruction_view(Opcode.LOAD, self.instruction)
        row_bytes = cfg.acc_row_bytes

        descriptor_layout = data.StructLayout({"pad": 1, "offset": range(bus)})
        m.submodules.beats = beats = BeatBuffer(8 * bus, self.buffer_depth)
        # An element leaves the queue dram_latency + 2 cycles after its first beat is
        # requested (the buffer adds two): one more entry keeps one element per cycle.
        m.submodules.elements = elements = fifo.SyncFIFO(
            width=descriptor_layout.size, depth=min(self.buffer_depth, cfg.dram_latency + 3))

        # ---- issue: walk the padded block, request the beats of each real element ----
        size = element_bytes(m, load, cfg)
        side = (1 << len(load.pad_top)) - 1
        extent = 2 * side + (1 << len(load.y_size)) - 1  # the most padded rows or columns
        width = Signal(range(extent + 1))
        height = Signal(range(extent + 1))
        m.d.comb += [width.eq(load.pad_left + load.x_size + load.pad_right),
                     height.eq(load.pad_top + load.y_size + load.pad_bottom)]

        issuing = Signal()
        y = Signal(range(extent))
        x = Signal(range(extent))
        row_address = Signal(DRAM_ADDRESS_BITS)   # DRAM address of real element (y, 0)
        address = Signal(DRAM_ADDRESS_BITS)       # DRAM address of element (y, x)
        beat = Signal(range(self.max_beats))      # beats of this element already requested
        credits = Signal(range(self.buffer_depth + 1), init=self.buffer_depth)

        pad_row = (y < load.pad_top) | (y >= load.pad_top + load.y_size)
        is_pad = pad_row | (x < load.pad_left) | (x >= load.pad_left + load.x_size)
        offset = Signal(range(bus))
        m.d.comb += offset.eq(address[:bus_shift] if bus_shift else 0)
        total_beats = Signal(range(self.max_beats + 1))
        m.d.comb += total_beats.eq((offset + size + bus - 1) >> bus_shift)

        descriptor = data.View(descriptor_layout, elements.w_data)
        m.d.comb += [descriptor.pad.eq(is_pad), descriptor.offset.eq(offset)]

        request = Signal()
        advance = Signal()
        m.d.comb += [
            self.dram.req_valid.eq(issuing & ~is_pad & (credits != 0)
                                   & ((beat != 0) | elements.w_rdy)),
            self.dram.req_addr.eq(Cat(Const(0, bus_shift), address[bus_shift:] + beat)),
            self.dram.req_we.eq(0),
            request.eq(self.dram.req_valid & self.dram.req_ready),
            elements.w_en.eq(Mux(is_pad, issuing & elements.w_rdy, request & (beat == 0))),
            self.read_bytes.eq(Mux(request & (beat == 0), size, 0)),
            advance.eq(Mux(is_pad, elements.w_en, request & (beat + 1 == total_beats))),
        ]
        # One adder walks the block: the next element of the row, or the next row.
        row_end = x + 1 == width
        next_address = Signal(DRAM_ADDRESS_BITS)
        m.d.comb += next_address.eq(Mux(row_end, row_address, address)
                                    + Mux(row_end, load.y_stride, load.x_stride))
        with m.If(request):
            m.d.sync += beat.eq(Mux(advance, 0, beat + 1))
        with m.If(advance):
            with m.If(row_end):
                m.d.sync += x.eq(0)
                with m.If(y + 1 == height):
                    m.d.sync += issuing.eq(0)
                m.d.sync += y.eq(y + 1)
                # (A padding row leaves address at row_address: it never moved.)
                with m.If(~pad_row):
                    m.d.sync += [row_address.eq(next_address), address.eq(next_address)]
            with m.Else():
                m.d.sync += x.eq(x + 1)
                with m.If(~is_pad):
                    m.d.sync += address.eq(next_address)

        # ---- complete: each beat leaving the buffer fills its bytes of the output row ----
        head = data.View(descriptor_layout, elements.r_data)
        gathered = Signal(range(self.max_beats))  # beats of the head element already taken
        head_beats = (head.offset + size + bus - 1) >> bus_shift
        last_beat = gathered + 1 == head_beats
        # Byte i of ``rotated`` is byte (i + offset) mod bus of the beat: one stage of
        # 2:1 multiplexers per offset bit.
        rotated = beats.r_data
        for bit in range(bus_shift):
            step = 8 << bit
            rotated = Mux(head.offset[bit], Cat(rotated[step:], rotated[:step]), rotated)

        write_ready = Mux(load.mem == ACC, self.acc_write_ready, self.sp_write_ready)
        out_valid = Signal()
        out_row = Signal(8 * row_bytes)
        on_chip_row = Signal(max(cfg.sp_address_bits, cfg.acc_address_bits))
        out_free = ~out_valid | write_ready
        row_done = Signal()
        fill = Signal()  # a beat of the head element goes into the row at this edge
        with m.If(elements.r_rdy & out_free):
            with m.If(head.pad):
                m.d.comb += row_done.eq(1)
            with m.Elif(beats.r_rdy):
                m.d.comb += [fill.eq(1), beats.r_en.eq(1), row_done.eq(last_beat)]
                m.d.sync += gathered.eq(Mux(last_beat, 0, gathered + 1))
        # Byte j of the row is byte (j + offset) of the element's beats: rotated byte
        # j mod bus of beat (j + offset) div bus. Bytes from size on are never
        # filled: they stay zero from ``start`` on, and a padding row clears them all.
        for j in range(row_bytes):
            lane = j % bus
            covering = j // bus + (head.offset > bus - 1 - lane)
            with m.If(self.start | (row_done & head.pad)):
                m.d.sync += out_row[8 * j:8 * (j + 1)].eq(0)
            with m.Elif(fill & (gathered == covering) & (j < size)):
                m.d.sync += out_row[8 * j:8 * (j + 1)].eq(rotated[8 * lane:8 * (lane + 1)])
        m.d.comb += [
            elements.r_en.eq(row_done),
            beats.w_en.eq(self.dram.resp_valid),
            beats.w_data.eq(self.dram.resp_rdata),
        ]
        with m.If(row_done):
            m.d.sync += out_valid.eq(1)
        with m.Elif(write_ready):
            m.d.sync += out_valid.eq(0)
        written = out_valid & write_ready
        with m.If(written):
            m.d.sync += on_chip_row.eq(on_chip_row + 1)
        m.d.comb += [
            self.sp_write.addr.eq(on_chip_row),
            self.sp_write.data.eq(out_row[:8 * cfg.sp_row_bytes]),
            self.sp_write.en.eq(written & (load.mem == SP)),
            self.acc_write.addr.eq(on_chip_row),
            self.acc_write.data.eq(out_row),
            self.acc_write.en.eq(written & (load.mem == ACC)),
        ]

        self._count_credits(m, credits, request, beats.r_en,
                            pending=issuing | elements.r_rdy | out_valid)
        with m.If(self.start):
            m.d.sync += [issuing.eq(1), y.eq(0), x.eq(0), beat.eq(0), gathered.eq(0),
                         on_chip_row.eq(load.dst), credits.eq(self.buffer_depth)]
            m.d.sync += [row_address.eq(load.dram), address.eq(load.dram)]
        return m
