"""The GEMM engine: runs GEMM's loop nest through the systolic array into accumulator rows."""

from amaranth import Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..config import INSTRUCTION_BITS
from ..isa import Opcode
from .decoder import instruction_view
from .memories import RowReadPort, RowWritePort
from .systolic_array import SystolicArray


class GemmEngine(wiring.Component):
    """Execute one GEMM: stream input rows through the array, accumulate into int32 rows.

    For each weight step k the engine preloads tile k (``dim`` scratchpad rows, one
    per cycle) into one of the array's two weight banks while the rows of step k-1
    still stream through the other, then streams the ``o_count * i_count`` input rows
    of step k, one per cycle. A result row leaves the array ``2*dim - 1`` cycles after
    its input row entered; the engine reads the accumulator row it belongs to,
    registers it, adds (or, at k = 0 without ``accumulate``, overwrites) and writes it
    back two cycles after the read, wrapping at 32 bits (the two writes still in
    flight are forwarded to a read of the same row). A tile is preloaded into a bank
    once the last row that used that bank has passed the array's last PE row (``dim``
    cycles after it was read), and only while at most one other tile is pending, so
    weights are never overwritten in use.

    A compact engine (``config.compact``, a slow clock) drives a compact array: one
    weight bank, a result one cycle after its row enters. Tile k's rows are read from
    the cycle after the last input row of tile k-1 is read (as that row enters the
    array) and streaming resumes once they are, so a weight step takes
    ``dim + o_count * i_count`` cycles, as ``kiln.sim.timing`` counts it; the engine
    keeps no counts of tiles loaded, rows in flight or bank holds. It reads a
    result's accumulator row in the cycle its input row enters the array and writes it
    back, added, in the next cycle, as the result leaves, with no forwarding: a compact
    VPU's accumulator writes at the falling clock edge, so a read returns the row
    written in the same cycle (`RowMemory` ``write_on_falling_edge``). ``busy`` falls
    the cycle after that last write. It holds row addresses in ``sp_address_bits`` /
    ``acc_address_bits`` rather than 16 bits (in-range rows wrap alike).

    Ports:
        start (In, 1): begin executing ``instruction`` (a GEMM) at this edge.
        instruction (In, 128): the GEMM, held while ``busy``.
        busy (Out, 1): high from the cycle after ``start`` until the last row is written.
        input_read (Out RowReadPort): scratchpad reads of input rows.
        weight_read (Out RowReadPort): scratchpad reads of weight rows.
        acc_read (Out RowReadPort): accumulator reads for read-modify-write.
        acc_write (Out RowWritePort): accumulator writes (always granted).
        macs (Out, 16): multiply-accumulates started this cycle (dim**2 per input row).
    """

    def __init__(self, config):
        self.config = config
        dim = config.dim
        sp_bits, acc_bits = 8 * config.sp_row_bytes, 8 * config.acc_row_bytes
        super().__init__({
            "start": In(1),
            "instruction": In(INSTRUCTION_BITS),
            "busy": Out(1),
            "input_read": Out(RowReadPort(sp_bits, config.sp_address_bits)),
            "weight_read": Out(RowReadPort(sp_bits, config.sp_address_bits)),
            "acc_read": Out(RowReadPort(acc_bits, config.acc_address_bits)),
            "acc_write": Out(RowWritePort(acc_bits, config.acc_address_bits)),
            "macs": Out(16 if dim * dim < 1 << 16 else 32),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        dim = cfg.dim
        gemm = instruction_view(Opcode.GEMM, self.instruction)
        # Row address widths: the ISA's 16 bits, or only the bits the memories decode.
        sp_row_bits = cfg.sp_address_bits if cfg.compact else 16
        acc_row_bits = cfg.acc_address_bits if cfg.compact else 16
        tag_layout = data.StructLayout({"row": acc_row_bits, "overwrite": 1})
        m.submodules.array = array = SystolicArray(dim, tag_width=tag_layout.size,
                                                   compact=cfg.compact)

        active = Signal()
        # ---- weight preload: tile p into bank p % 2, one row per cycle ----
        preload_row = Signal(range(dim + 1))
        preloading = Signal()
        tiles_loaded = Signal(7)   # tiles whose rows are all in the array
        stream_tile = Signal(7)    # tile whose input rows are streaming
        if cfg.compact:
            # One weight bank, so the preload is at most one tile ahead: ``loaded`` says
            # tile stream_tile's rows are all read. Tile p's preload starts the cycle after
            # the last row of tile p-1 is read, as that row enters the array.
            loaded = Signal()
            last_row_read = Signal()
            can_preload = (active & ~preloading
                           & Mux(loaded, last_row_read & (stream_tile + 1 != gemm.k_count),
                                 stream_tile < gemm.k_count))
        else:
            preload_tile = Signal(7)   # next tile to preload
            can_preload = (active & ~preloading & (preload_tile < gemm.k_count)
                           & (preload_tile <= stream_tile + 1))
            # Cycles until the last row read for bank b has passed every PE row.
            bank_hold = [Signal(range(dim + 2), name=f"bank_hold{b}") for b in range(2)]
            can_preload &= Mux(preload_tile[0], bank_hold[1] == 0, bank_hold[0] == 0)
        with m.If(can_preload):
            m.d.sync += [preloading.eq(1), preload_row.eq(0)]
        weight_row_address = Signal(sp_row_bits)
        if cfg.compact:  # the tiles' rows are consecutive: count through them
            with m.If(preloading):
                m.d.sync += weight_row_address.eq(weight_row_address + 1)
        else:
            m.d.comb += weight_row_address.eq(gemm.wgt + preload_tile * dim + preload_row)
        m.d.comb += [
            self.weight_read.addr.eq(weight_row_address),
            self.weight_read.en.eq(preloading),
        ]
        with m.If(preloading):
            with m.If(preload_row == dim - 1):
                m.d.sync += preloading.eq(0)
                if cfg.compact:
                    m.d.sync += loaded.eq(1)
                else:
                    m.d.sync += preload_tile.eq(preload_tile + 1)
            m.d.sync += preload_row.eq(preload_row + 1)
        if cfg.compact:
            with m.Elif(last_row_read):
                m.d.sync += loaded.eq(0)
        # The row read this cycle is written into the array next cycle.
        weight_valid = Signal()
        weight_row = Signal(range(dim))
        weight_bank = Signal()
        m.d.sync += [weight_valid.eq(preloading), weight_row.eq(preload_row)]
        if not cfg.compact:  # a compact array has one bank
            m.d.sync += weight_bank.eq(preload_tile[0])
        last_weight = weight_valid & (weight_row == dim - 1)
        if not cfg.compact:
            with m.If(last_weight):
                m.d.sync += tiles_loaded.eq(tiles_loaded + 1)
        m.d.comb += [
            array.w_we.eq(weight_valid),
            array.w_row.eq(weight_row),
            array.w_bank.eq(weight_bank),
            array.w_data.eq(self.weight_read.data),
        ]

        # ---- input stream: rows of tile stream_tile, (o, i) in order ----
        o = Signal(8)
        i = Signal(8)
        tile_input = Signal(sp_row_bits)   # inp + k * k_inp_inc
        outer_input = Signal(sp_row_bits)  # ... + o * o_inp_inc
        input_row = Signal(sp_row_bits)    # ... + i * i_inp_inc
        outer_acc = Signal(acc_row_bits)   # acc + o * o_acc_inc
        acc_row = Signal(acc_row_bits)     # ... + i
        # A tile may stream from the cycle its last weight row is written: rows read now
        # reach the array one cycle later, when that row is in place.
        if cfg.compact:
            streaming = active & loaded
        else:
            tile_ready = ((tiles_loaded > stream_tile)
                          | (last_weight & (tiles_loaded == stream_tile)))
            streaming = active & (stream_tile < gemm.k_count) & tile_ready
        m.d.comb += [self.input_read.addr.eq(input_row), self.input_read.en.eq(streaming)]
        if cfg.compact:  # the last (o, i) by o + 1 == o_count: no subtractor
            last_i, last_o = i + 1 == gemm.i_count, o + 1 == gemm.o_count
            m.d.comb += last_row_read.eq(streaming & last_i & last_o)
        else:
            last_i, last_o = i == gemm.i_count - 1, o == gemm.o_count - 1
        with m.If(streaming):
            with m.If(last_i):
                m.d.sync += i.eq(0)
                with m.If(last_o):
                    m.d.sync += [o.eq(0), stream_tile.eq(stream_tile + 1),
                                 tile_input.eq(tile_input + gemm.k_inp_inc),
                                 outer_input.eq(tile_input + gemm.k_inp_inc),
                                 input_row.eq(tile_input + gemm.k_inp_inc),
                                 outer_acc.eq(gemm.acc), acc_row.eq(gemm.acc)]
                with m.Else():
                    m.d.sync += [o.eq(o + 1),
                                 outer_input.eq(outer_input + gemm.o_inp_inc),
                                 input_row.eq(outer_input + gemm.o_inp_inc),
                                 outer_acc.eq(outer_acc + gemm.o_acc_inc),
                                 acc_row.eq(outer_acc + gemm.o_acc_inc)]
            with m.Else():
                m.d.sync += [i.eq(i + 1), input_row.eq(input_row + gemm.i_inp_inc),
                             acc_row.eq(acc_row + 1)]
        if not cfg.compact:
            for bank in range(2):
                with m.If(streaming & (stream_tile[0] == bank)):
                    m.d.sync += bank_hold[bank].eq(dim)
                with m.Elif(bank_hold[bank] != 0):
                    m.d.sync += bank_hold[bank].eq(bank_hold[bank] - 1)
        # The row read this cycle enters the array next cycle.
        entering = Signal()
        entering_bank = Signal()
        entering_tag = Signal(tag_layout)
        m.d.sync += [entering.eq(streaming), entering_bank.eq(stream_tile[0]),
                     entering_tag.row.eq(acc_row),
                     entering_tag.overwrite.eq(~gemm.accumulate & (stream_tile == 0))]
        m.d.comb += [
            array.x.eq(self.input_read.data),
            array.x_valid.eq(entering),
            array.x_bank.eq(entering_bank),
            array.x_tag.eq(entering_tag),
            self.macs.eq(Mux(entering, dim * dim, 0)),
        ]

        if not cfg.compact:
            # ---- rows in the array, per bank (counted from the read to the result) ----
            in_flight = [Signal(range(4 * dim + 8), name=f"in_flight{b}") for b in range(2)]
            leaving_bank = Signal()
            bank_shift = Signal(2 * dim + 2)
            m.d.sync += bank_shift.eq((bank_shift << 1) | stream_tile[0])
            m.d.comb += leaving_bank.eq(bank_shift[2 * dim - 1])
            for bank in range(2):
                inc = streaming & (stream_tile[0] == bank)
                dec = array.y_valid & (leaving_bank == bank)
                with m.If(inc & ~dec):
                    m.d.sync += in_flight[bank].eq(in_flight[bank] + 1)
                with m.Elif(dec & ~inc):
                    m.d.sync += in_flight[bank].eq(in_flight[bank] - 1)

        # ---- read-modify-write of the accumulator, behind the array ----
        # The row read in cycle t is registered at the memory's output (block-RAM outputs
        # are slow) and written back in t+2. The writes of t and t+1 are not in that
        # read yet, so a result for the same row takes the newer value from them. A
        # compact engine reads a result's row in the cycle before it leaves the array
        # and writes it back as it leaves; the memory's output already holds the write
        # of the cycle before.
        lanes = data.ArrayLayout(32, dim)
        new = Signal(lanes)
        if cfg.compact:
            early_tag = data.View(tag_layout, array.y_tag_next)
            m.d.comb += [self.acc_read.addr.eq(early_tag.row),
                         self.acc_read.en.eq(array.y_valid_next)]
            write_valid, write_tag, write_sum = (array.y_valid, data.View(tag_layout, array.y_tag),
                                                 array.y)
            bases = data.View(lanes, self.acc_read.data)
        else:
            result_tag = data.View(tag_layout, array.y_tag)
            m.d.comb += [self.acc_read.addr.eq(result_tag.row),
                         self.acc_read.en.eq(array.y_valid)]
            pending = Signal()
            pending_tag = Signal(tag_layout)
            pending_sum = Signal(lanes)
            m.d.sync += [pending.eq(array.y_valid), pending_tag.eq(array.y_tag),
                         pending_sum.eq(array.y)]
            write_valid = Signal()
            write_tag = Signal(tag_layout)
            write_sum = Signal(lanes)
            old = Signal(lanes)
            # The two writes before this one: (valid, row, data), newest first.
            history = [(Signal(name=f"written{k}"), Signal(16, name=f"written{k}_row"),
                        Signal(lanes, name=f"written{k}_data")) for k in range(2)]
            newer = Signal()  # the write of the cycle before is to this row
            older = Signal()  # the write of two cycles before is to this row
            m.d.sync += [
                write_valid.eq(pending), write_tag.eq(pending_tag), write_sum.eq(pending_sum),
                old.eq(self.acc_read.data),
                newer.eq(write_valid & (write_tag.row == pending_tag.row)),
                older.eq(history[0][0] & (history[0][1] == pending_tag.row)),
                history[0][0].eq(write_valid), history[0][1].eq(write_tag.row),
                history[0][2].eq(new),
                history[1][0].eq(history[0][0]), history[1][1].eq(history[0][1]),
                history[1][2].eq(history[0][2]),
            ]
            bases = [Mux(newer, history[0][2][lane], Mux(older, history[1][2][lane], old[lane]))
                     for lane in range(dim)]
        for lane in range(dim):
            m.d.comb += new[lane].eq(Mux(write_tag.overwrite, write_sum[lane],
                                         bases[lane] + write_sum[lane]))
        m.d.comb += [self.acc_write.addr.eq(write_tag.row), self.acc_write.data.eq(new),
                     self.acc_write.en.eq(write_valid)]
        # The last write lands at the edge that ends the cycle ``write_valid`` is high (a
        # compact engine's at the falling edge inside it: the engine may stop at the next).
        all_read = stream_tile == gemm.k_count
        if cfg.compact:
            drained = all_read & ~entering  # the last row is written in this cycle or was
        else:
            # ``pending``: a row read is still to be written
            drained = all_read & (in_flight[0] == 0) & (in_flight[1] == 0) & ~pending
        m.d.comb += self.busy.eq(active)
        with m.If(active & drained):
            m.d.sync += active.eq(0)
        with m.If(self.start):
            if cfg.compact:
                m.d.sync += [weight_row_address.eq(gemm.wgt), loaded.eq(0)]
            else:
                m.d.sync += [tiles_loaded.eq(0), preload_tile.eq(0)]
            m.d.sync += [active.eq(1), preloading.eq(0),
                         stream_tile.eq(0), o.eq(0), i.eq(0),
                         tile_input.eq(gemm.inp), outer_input.eq(gemm.inp),
                         input_row.eq(gemm.inp), outer_acc.eq(gemm.acc), acc_row.eq(gemm.acc)]
        return m
