"""The post-processing unit: VADD, VCLIP, VREQ and VPOOL on accumulator and scratchpad rows."""

from typing import NamedTuple

from amaranth import Cat, Const, Module, Mux, Signal, Value, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..config import INSTRUCTION_BITS
from ..isa import MEMORIES, OPCODE_FIELD, POOL_MODES, Opcode
from .decoder import instruction_view
from .memories import RowReadPort, RowWritePort

SP, ACC = MEMORIES.index("sp"), MEMORIES.index("acc")
MAX, SUM = POOL_MODES.index("max"), POOL_MODES.index("sum")


def _saturate(value, lo, hi):
    return Mux(value < lo, lo, Mux(value > hi, hi, value))


class _Fields(NamedTuple):
    """The fields a vector instruction's loop needs: decoded from the held instruction
    word, or latched at ``start`` (the rest are read from the held word)."""

    is_add: Value
    is_clip: Value
    is_req: Value
    is_pool: Value
    count: Value       # 12 bits
    dst_stride: Value  # 16 bits
    src_stride: Value  # 16 bits (unused by VCLIP)
    win_h: Value       # 4 bits (1 unless VPOOL)
    win_w: Value       # 4 bits (1 unless VPOOL)
    src_is_sp: Value   # the source rows are int8 scratchpad rows
    dst_start: Value   # the first destination row (combinational, valid at start)
    src_start: Value   # the first source row (combinational, valid at start)


def _decode_fields(word) -> _Fields:
    """Return the loop fields of the vector instruction ``word``, decoded from the word."""
    opcode = word[OPCODE_FIELD.offset:OPCODE_FIELD.offset + OPCODE_FIELD.width]
    vadd = instruction_view(Opcode.VADD, word)
    vclip = instruction_view(Opcode.VCLIP, word)
    vreq = instruction_view(Opcode.VREQ, word)
    vpool = instruction_view(Opcode.VPOOL, word)
    op_add, op_clip = opcode == Opcode.VADD, opcode == Opcode.VCLIP
    op_req, op_pool = opcode == Opcode.VREQ, opcode == Opcode.VPOOL
    return _Fields(
        op_add, op_clip, op_req, op_pool,
        Mux(op_add, vadd.count, Mux(op_clip, vclip.count, Mux(op_req, vreq.count, vpool.count))),
        Mux(op_add, vadd.dst_stride, Mux(op_clip, vclip.dst_stride,
                                         Mux(op_req, vreq.dst_stride, vpool.dst_stride))),
        Mux(op_add, vadd.src_stride, Mux(op_req, vreq.src_stride, vpool.src_stride)),
        Mux(op_pool, vpool.win_h, 1),
        Mux(op_pool, vpool.win_w, 1),
        Mux(op_add, vadd.src_mem == SP, op_pool & (vpool.src_mem == SP)),
        Mux(op_add, vadd.dst, Mux(op_clip, vclip.dst, Mux(op_req, vreq.dst, vpool.dst))),
        Mux(op_add, vadd.src, Mux(op_req, vreq.src, vpool.src)))


def _latch_fields(m, start, word) -> _Fields:
    """Latch the loop fields of the vector instruction ``word`` at ``start``."""
    d = _decode_fields(word)
    is_add, is_clip, is_req, is_pool = Signal(), Signal(), Signal(), Signal()
    count = Signal(12)
    dst_stride = Signal(16)
    src_stride = Signal(16)
    win_h = Signal(4)
    win_w = Signal(4)
    src_is_sp = Signal()
    with m.If(start):
        m.d.sync += [
            is_add.eq(d.is_add), is_clip.eq(d.is_clip), is_req.eq(d.is_req),
            is_pool.eq(d.is_pool), count.eq(d.count), dst_stride.eq(d.dst_stride),
            src_stride.eq(d.src_stride), win_h.eq(d.win_h), win_w.eq(d.win_w),
            src_is_sp.eq(d.src_is_sp),
        ]
    return _Fields(is_add, is_clip, is_req, is_pool, count, dst_stride, src_stride, win_h, win_w,
                   src_is_sp, d.dst_start, d.src_start)


def _all_equal(bits):
    """Return whether every bit of ``bits`` has the same value."""
    return bits.all() | ~bits.any()


def _shifted_window(m, product, shift):
    """Return ``(doubled, out_of_range)`` for the int64 ``product`` and the 6-bit ``shift``.

    ``doubled`` (10 bits, signed) is ``floor(2 * product / 2**shift)`` unless that is
    outside [-512, 511], which ``out_of_range`` flags; VREQ's result then saturates to lo
    or hi whatever the zero point and bounds. It is bits [63, 73) of ``2 * product``
    shifted left by ``63 - shift`` in a 73-bit frame: each left-shift stage keeps only
    the bits later stages can move into that window, and flags the stage when the bits
    it shifts out of the frame are not all copies of the new sign bit.
    """
    bits = Signal(73)
    m.d.comb += bits.eq(Cat(Const(0, 1), product, product[63].replicate(8)))
    base = 0  # frame index of bits[0]
    flags = []
    for k in reversed(range(6)):
        amount = 1 << k
        keep = 64 - amount  # the lowest frame bit later stages can still move to bit 63
        shift_now = ~shift[k]
        flags.append(shift_now & ~_all_equal(bits[72 - amount - base:]))
        stage = Signal(73 - keep, name=f"shifted{amount}")
        m.d.comb += stage.eq(Mux(shift_now, bits[keep - amount - base:73 - amount - base],
                                 bits[keep - base:]))
        bits, base = stage, keep
    return bits.as_signed(), Cat(*flags).any()


#: Cycles from a source row's read to its result's write for VADD, VCLIP and VPOOL: the
#: row memory's read cycle, a register on its output (block-RAM outputs are slow), the
#: add, clip or pooling step into a result register, then the int8 saturation and write.
ROW_LATENCY = 3
#: The same for the compact variant: the read, the lane's result computed from the
#: memories' outputs into the result row, then the write (the compact memories write at
#: the falling clock edge, so the write port's inputs come from registers).
COMPACT_ROW_LATENCY = 2
#: The same for VREQ: read, output register, partial products, their sum, shift,
#: round and zero point, clamp, then write.
VREQ_LATENCY = 7
#: The same for the compact variant's VREQ: read, the lane's product (unregistered
#: SB_MAC16s) and shift into a register, its rounding, zero point and clamp into the
#: result row, then the write.
COMPACT_VREQ_LATENCY = 3


def busy_cycles(instruction, config) -> int:
    """Return the cycles `VectorUnit` is busy with the vector ``instruction`` (a
    `kiln.hw.isa.Instruction`): one per source row (VPOOL: per window row), ``dim`` per
    source row in the compact variant, plus the pipeline (VREQ: and its parameter read)."""
    rows = instruction.count
    if instruction.opcode == Opcode.VPOOL:
        rows *= instruction.win_h * instruction.win_w
    if config.compact:
        rows *= config.dim
    if instruction.opcode != Opcode.VREQ:
        return rows + (COMPACT_ROW_LATENCY if config.compact else ROW_LATENCY)
    return rows + 1 + (COMPACT_VREQ_LATENCY if config.compact else VREQ_LATENCY)


class VectorUnit(wiring.Component):
    """Execute one vector instruction (VADD, VCLIP, VREQ or VPOOL), one source row per cycle.

    Rows are read in the order the instruction's loop gives them; a row read in
    cycle t is registered at the memory's output, combined into a result register,
    and written in cycle t + ROW_LATENCY (VREQ: t + VREQ_LATENCY, after its 32x32-bit multiply as four
    registered 16x16-bit partial products, their 64-bit sum, the arithmetic shift,
    the rounding and zero point, and the clamp, each in its own cycle, then the write). VREQ first
    reads its multiplier and shift rows in one cycle. VPOOL reads the win_h x win_w
    window rows of each output in turn and writes the output with the window's last
    row. The instruction's fields are latched at ``start``. Arithmetic is the ISA's:
    32-bit wrapping adds, exact 64-bit requantize products with round-half-up
    arithmetic shifts, saturation only where the ISA says so. ``busy`` is therefore
    high for (source rows) + ROW_LATENCY cycles, VREQ (source rows) + 1 + VREQ_LATENCY.

    With ``config.compact`` (iCE40, 12 MHz) one 32-bit datapath computes one lane per
    cycle, straight from the memories' outputs (no operand registers): each source row
    is read ``dim`` times, once per lane in order (VPOOL: each window row, once per
    lane), so a row takes ``dim`` cycles. VADD, VCLIP and VPOOL are one gated add and
    two comparators (VCLIP reads its rows on acc_read_b, so that its hi and VPOOL's max
    share one). VREQ reads its shift row in one cycle (its multiplier row is read again
    with every source row), then takes an exact 32x32-bit product (four unregistered
    SB_MAC16) and a left shifter that keeps only the 10 bits the int8 clamp needs plus
    an out-of-range flag into a register, then rounds, adds the zero point and clamps.
    Lane results are stored into a result row that rotates by one lane per store (so
    it also holds each lane's running VPOOL reduction), written in the cycle after its
    last lane. The loop's fields are decoded from the held instruction word (only the
    opcode's flags are latched at ``start``). ``busy`` is high for dim x (source rows) +
    COMPACT_ROW_LATENCY cycles, VREQ dim x (source rows) + 1 + COMPACT_VREQ_LATENCY
    (`busy_cycles`).

    Ports:
        start (In, 1): begin executing ``instruction`` at this edge.
        instruction (In, 128): the vector instruction, held while ``busy``.
        busy (Out, 1): high from the cycle after ``start`` until the last row is written.
        acc_read_a, acc_read_b (Out RowReadPort): accumulator reads (dim x int32).
        sp_read (Out RowReadPort): scratchpad reads (dim x int8).
        acc_write (Out RowWritePort): accumulator writes (always granted).
        sp_write (Out RowWritePort): scratchpad writes (always granted).
    """

    def __init__(self, config):
        self.config = config
        sp_bits, acc_bits = 8 * config.sp_row_bytes, 8 * config.acc_row_bytes
        sp_addr, acc_addr = config.sp_address_bits, config.acc_address_bits
        super().__init__({
            "start": In(1),
            "instruction": In(INSTRUCTION_BITS),
            "busy": Out(1),
            "acc_read_a": Out(RowReadPort(acc_bits, acc_addr)),
            "acc_read_b": Out(RowReadPort(acc_bits, acc_addr)),
            "sp_read": Out(RowReadPort(sp_bits, sp_addr)),
            "acc_write": Out(RowWritePort(acc_bits, acc_addr)),
            "sp_write": Out(RowWritePort(sp_bits, sp_addr)),
        })

    def elaborate(self, platform):
        if self.config.compact:
            return self._elaborate_compact()
        m = Module()
        dim = self.config.dim
        word = self.instruction
        vclip = instruction_view(Opcode.VCLIP, word)
        vreq = instruction_view(Opcode.VREQ, word)
        vpool = instruction_view(Opcode.VPOOL, word)
        f = _latch_fields(m, self.start, word)
        is_add, is_clip, is_req, is_pool = f.is_add, f.is_clip, f.is_req, f.is_pool
        count, dst_stride, src_stride, win_h, win_w = (f.count, f.dst_stride, f.src_stride,
                                                       f.win_h, f.win_w)
        src_is_sp, dst_start, src_start = f.src_is_sp, f.dst_start, f.src_start

        # ---- issue: walk n (and the pooling window), read the operand rows ----
        issuing = Signal()
        params = Signal()  # VREQ's multiplier/shift read cycle
        n = Signal(12)
        wy = Signal(4)
        wx = Signal(4)
        dst_row = Signal(16)
        src_row = Signal(16)     # src + n * src_stride
        window_row = Signal(16)  # ... + wy * win_stride_h
        element_row = Signal(16)  # ... + wx * win_stride_w
        first = (wy == 0) & (wx == 0)
        last_in_window = (wy == win_h - 1) & (wx == win_w - 1)
        step = issuing & ~params

        m.d.comb += [
            self.acc_read_a.addr.eq(Mux(params, vreq.param, Mux(is_req, src_row, dst_row))),
            self.acc_read_a.en.eq(params | (step & ~is_pool)),
            self.acc_read_b.addr.eq(Mux(params, vreq.param + 1, element_row)),
            self.acc_read_b.en.eq(params | (step & (is_add | is_pool) & ~src_is_sp)),
            self.sp_read.addr.eq(element_row),
            self.sp_read.en.eq(step & src_is_sp),
        ]
        with m.If(params):
            m.d.sync += params.eq(0)
        with m.Elif(step):
            with m.If(last_in_window):
                m.d.sync += [wy.eq(0), wx.eq(0), n.eq(n + 1), dst_row.eq(dst_row + dst_stride),
                             src_row.eq(src_row + src_stride),
                             window_row.eq(src_row + src_stride),
                             element_row.eq(src_row + src_stride)]
                with m.If(n == count - 1):
                    m.d.sync += issuing.eq(0)
            with m.Elif(wx == win_w - 1):
                m.d.sync += [wx.eq(0), wy.eq(wy + 1),
                             window_row.eq(window_row + vpool.win_stride_h),
                             element_row.eq(window_row + vpool.win_stride_h)]
            with m.Else():
                m.d.sync += [wx.eq(wx + 1), element_row.eq(element_row + vpool.win_stride_w)]

        # ---- stage 1: the rows are on the memories' outputs; register them ----
        s1_valid, s1_first, s1_last, s1_params = Signal(), Signal(), Signal(), Signal()
        s1_dst = Signal(16)
        m.d.sync += [s1_valid.eq(step), s1_first.eq(first), s1_last.eq(last_in_window),
                     s1_dst.eq(dst_row), s1_params.eq(params)]
        lanes32 = data.ArrayLayout(signed(32), dim)
        lanes8 = data.ArrayLayout(signed(8), dim)
        a = Signal(lanes32)
        b_acc = Signal(lanes32)
        b = Signal(lanes32)  # the second operand: b_acc or the scratchpad's int8 lanes
        b_sp = data.View(lanes8, self.sp_read.data)
        r_valid, r_first, r_last, r_params = Signal(), Signal(), Signal(), Signal()
        r_dst = Signal(16)
        for lane in range(dim):
            m.d.sync += b[lane].eq(Mux(src_is_sp, b_sp[lane],
                                       self.acc_read_b.data[32 * lane:32 * (lane + 1)]))
        m.d.sync += [a.eq(self.acc_read_a.data), b_acc.eq(self.acc_read_b.data),
                     r_valid.eq(s1_valid), r_first.eq(s1_first), r_last.eq(s1_last),
                     r_dst.eq(s1_dst), r_params.eq(s1_params)]

        # ---- stage 2: combine the registered rows into the result register ----
        multiplier = Signal(lanes32)
        shift = Signal(data.ArrayLayout(6, dim))
        with m.If(r_params):
            m.d.sync += multiplier.eq(a)
            for lane in range(dim):
                m.d.sync += shift[lane].eq(b_acc[lane][:6])

        result = Signal(lanes32)
        pooled = Signal(lanes32)  # running reduction of the current window
        acc_write = Signal()
        sp_write = Signal()
        for lane in range(dim):
            combined = Mux(vpool.mode == MAX, Mux(b[lane] > pooled[lane], b[lane], pooled[lane]),
                           (pooled[lane] + b[lane])[:32])
            reduced = Mux(r_first, b[lane], combined)
            with m.If(is_add):
                m.d.comb += result[lane].eq((a[lane] + b[lane])[:32])
            with m.Elif(is_clip):
                m.d.comb += result[lane].eq(_saturate(a[lane], vclip.lo, vclip.hi))
            with m.Else():
                m.d.comb += result[lane].eq(reduced)
            with m.If(r_valid & is_pool):
                m.d.sync += pooled[lane].eq(reduced)
        out = Signal(lanes32)
        out_dst = Signal(16)
        m.d.sync += [
            out.eq(result), out_dst.eq(r_dst),
            acc_write.eq(r_valid & (is_add | is_clip
                                    | (is_pool & r_last & (vpool.dst_mem == ACC)))),
            sp_write.eq(r_valid & is_pool & r_last & (vpool.dst_mem == SP)),
        ]
        # ---- stage 3: write the result (int8-saturated into the scratchpad) ----
        saturated = Cat(*[_saturate(out[lane], -128, 127)[:8] for lane in range(dim)])

        # ---- VREQ: partial products, sum, shift, round and zero point, clamp ----
        pp_valid, sum_valid, shift_valid, round_valid = Signal(), Signal(), Signal(), Signal()
        pp_dst, sum_dst, shift_dst, round_dst = Signal(16), Signal(16), Signal(16), Signal(16)
        clamp_valid, clamp_dst = Signal(), Signal(16)
        m.d.sync += [pp_valid.eq(r_valid & is_req), pp_dst.eq(r_dst),
                     sum_valid.eq(pp_valid), sum_dst.eq(pp_dst),
                     shift_valid.eq(sum_valid), shift_dst.eq(sum_dst),
                     round_valid.eq(shift_valid), round_dst.eq(shift_dst),
                     clamp_valid.eq(round_valid), clamp_dst.eq(round_dst)]
        requantized = []
        for lane in range(dim):
            x, w = a[lane], multiplier[lane]
            x_lo, x_hi = x[:16], x[16:].as_signed()
            w_lo, w_hi = w[:16], w[16:].as_signed()
            low = Signal(32, name=f"low{lane}")                # x_lo * w_lo
            cross_a = Signal(signed(34), name=f"cross_a{lane}")  # x_lo * w_hi
            cross_b = Signal(signed(34), name=f"cross_b{lane}")  # x_hi * w_lo
            high = Signal(signed(32), name=f"high{lane}")        # x_hi * w_hi
            m.d.sync += [low.eq(x_lo * w_lo), cross_a.eq(x_lo * w_hi), cross_b.eq(x_hi * w_lo),
                         high.eq(x_hi * w_hi)]
            product = Signal(signed(64), name=f"product{lane}")
            m.d.sync += product.eq((high << 32) + ((cross_a + cross_b) << 16) + low)
            doubled = Signal(signed(66), name=f"doubled{lane}")
            m.d.sync += doubled.eq((product << 1) >> shift[lane])
            offset = Signal(signed(67), name=f"offset{lane}")
            m.d.sync += offset.eq((doubled >> 1) + doubled[0] + vreq.zero_point)
            clamped = Signal(8, name=f"clamped{lane}")
            m.d.sync += clamped.eq(_saturate(offset, vreq.lo, vreq.hi)[:8])
            requantized.append(clamped)

        m.d.comb += [
            self.acc_write.addr.eq(out_dst),
            self.acc_write.data.eq(out),
            self.acc_write.en.eq(acc_write),
            self.sp_write.addr.eq(Mux(clamp_valid, clamp_dst, out_dst)),
            self.sp_write.data.eq(Mux(clamp_valid, Cat(*requantized), saturated)),
            self.sp_write.en.eq(clamp_valid | sp_write),
        ]

        m.d.comb += self.busy.eq(issuing | s1_valid | r_valid | acc_write | sp_write | pp_valid
                                 | sum_valid | shift_valid | round_valid | clamp_valid)
        with m.If(self.start):
            m.d.sync += [issuing.eq(1), params.eq(vreq.opcode == Opcode.VREQ), n.eq(0), wy.eq(0), wx.eq(0),
                         dst_row.eq(dst_start), src_row.eq(src_start),
                         window_row.eq(src_start), element_row.eq(src_start)]
        return m

    def _elaborate_compact(self):
        m = Module()
        dim = self.config.dim
        word = self.instruction
        vclip = instruction_view(Opcode.VCLIP, word)
        vreq = instruction_view(Opcode.VREQ, word)
        vpool = instruction_view(Opcode.VPOOL, word)
        # The word is held while busy: the loop's fields are decoded from it, and only the
        # opcode's flags, which gate the whole datapath, are latched at start (timing).
        decoded = _decode_fields(word)
        flags = {name: Signal(name=name)
                 for name in ("is_add", "is_clip", "is_req", "is_pool", "src_is_sp")}
        with m.If(self.start):
            m.d.sync += [flag.eq(getattr(decoded, name)) for name, flag in flags.items()]
        f = decoded._replace(**flags)
        to_sp = f.is_req | (f.is_pool & (vpool.dst_mem == SP))

        # ---- issue: walk n, then the pooling window, then the lanes; read operand rows ----
        issuing = Signal()
        params = Signal()  # VREQ's shift-row read cycle (param + 1, on acc_read_b)
        n = Signal(12)  # the row whose lanes issue
        lane = Signal(range(dim))
        wy = Signal(4)
        wx = Signal(4)
        dst_row = Signal(16)      # the row the result row goes to
        src_row = Signal(16)      # src + n * src_stride
        window_row = Signal(16)   # ... + wy * win_stride_h
        element_row = Signal(16)  # ... + wx * win_stride_w
        first = (wy == 0) & (wx == 0)
        last_in_window = (wy == f.win_h - 1) & (wx == f.win_w - 1)
        step = issuing & ~params
        stored = Signal()  # the result row's last lane is stored in this cycle
        write = Signal()   # the result row is written in this cycle
        next_dst = dst_row + f.dst_stride
        # VADD and VCLIP read the next row's lanes while the previous row is stored and
        # written (dst_row advances with the write).
        dst_read = Mux(stored | write, next_dst, dst_row)
        m.d.comb += [
            self.acc_read_a.addr.eq(Mux(f.is_req, src_row, dst_read)),
            self.acc_read_a.en.eq(step & (f.is_add | f.is_req)),
            self.acc_read_b.addr.eq(Mux(f.is_req, vreq.param + params,
                                        Mux(f.is_clip, dst_read, element_row))),
            self.acc_read_b.en.eq(params | (step & (f.is_req | f.is_clip
                                                    | ((f.is_add | f.is_pool) & ~f.src_is_sp)))),
            self.sp_read.addr.eq(element_row),
            self.sp_read.en.eq(step & f.src_is_sp),
        ]
        with m.If(params):
            m.d.sync += params.eq(0)
        with m.Elif(step):
            m.d.sync += lane.eq(lane + 1)
            with m.If((lane == dim - 1) & last_in_window):
                m.d.sync += [wy.eq(0), wx.eq(0), n.eq(n + 1),
                             src_row.eq(src_row + f.src_stride),
                             window_row.eq(src_row + f.src_stride),
                             element_row.eq(src_row + f.src_stride)]
                with m.If(n + 1 == f.count):
                    m.d.sync += issuing.eq(0)
            with m.Elif((lane == dim - 1) & (wx == f.win_w - 1)):
                m.d.sync += [wx.eq(0), wy.eq(wy + 1),
                             window_row.eq(window_row + vpool.win_stride_h),
                             element_row.eq(window_row + vpool.win_stride_h)]
            with m.Elif(lane == dim - 1):
                m.d.sync += [wx.eq(wx + 1), element_row.eq(element_row + vpool.win_stride_w)]

        # ---- the rows are on the memories' outputs: one lane of VADD, VCLIP or VPOOL ----
        r_valid, r_first, r_last, r_params = Signal(), Signal(), Signal(), Signal()
        r_lane = Signal(range(dim))
        m.d.sync += [r_valid.eq(step), r_first.eq(first), r_last.eq(last_in_window),
                     r_params.eq(params), r_lane.eq(lane)]
        row_a = data.View(data.ArrayLayout(signed(32), dim), self.acc_read_a.data)
        row_b = data.View(data.ArrayLayout(signed(32), dim), self.acc_read_b.data)
        row_sp = data.View(data.ArrayLayout(signed(8), dim), self.sp_read.data)
        a = row_a[r_lane]  # VADD: the accumulator lane; VREQ: x
        # VADD, VPOOL: the source lane; VCLIP: the accumulator lane; VREQ: multiplier
        b = Mux(f.src_is_sp, row_sp[r_lane], row_b[r_lane])
        # VADD a + b; VCLIP b, lo or hi (+ 0); VPOOL sum pooled + b (first: 0 + b);
        # VPOOL max pooled or b (+ 0). One comparator serves VCLIP's hi and VPOOL's max;
        # lo <= hi, so b < lo and b > hi never both hold.
        # The result row rotates by one lane as each lane is stored, so lane k's running
        # reduction of the window is in its lane 0 when lane k is computed.
        out = Signal(data.ArrayLayout(32, dim))
        pooled = out[0].as_signed()
        bound = Mux(f.is_clip, vclip.hi, pooled)
        below_lo, above_bound = b < vclip.lo, b > bound
        summing = vpool.mode == SUM
        with_x = Mux(f.is_clip, above_bound,
                     f.is_add | (f.is_pool & ~r_first & (summing | ~above_bound)))
        with_b = Mux(f.is_clip, ~below_lo & ~above_bound,
                     f.is_add | (f.is_pool & (r_first | summing | above_bound)))
        x = Mux(with_x, Mux(f.is_add, a, bound), 0)
        y = Mux(with_b, b, Mux(f.is_clip & below_lo, vclip.lo, 0))
        result = Signal(signed(32))
        m.d.comb += result.eq(x + y)

        # ---- VREQ: the product and the shift; then rounding, zero point and clamp ----
        q_valid = Signal()
        m.d.sync += q_valid.eq(r_valid & f.is_req)
        product = Signal(signed(64))  # exact; Yosys maps it to four 16x16 SB_MAC16
        m.d.comb += product.eq(a * b)
        # The shift of each lane, lane 0 first: loaded from row param + 1, rotated by one
        # lane as each lane's product is shifted.
        shifts = Signal(data.ArrayLayout(6, dim))
        with m.If(r_params):
            m.d.sync += shifts.eq(Cat(*[lane_[:6] for lane_ in row_b]))
        with m.Elif(r_valid & f.is_req):
            m.d.sync += shifts.eq(Cat(*[shifts[(i + 1) % dim] for i in range(dim)]))
        window, out_of_range = _shifted_window(m, product, shifts[0])
        doubled = Signal(signed(10))  # floor(2 * product / 2**shift), unless over
        over, negative = Signal(), Signal()
        m.d.sync += [doubled.eq(window), over.eq(out_of_range), negative.eq(product[63])]
        # q + zero_point = floor((doubled + 1) / 2) + zero_point, as one add
        offset = ((doubled + Cat(Const(1, 1), vreq.zero_point).as_signed()) >> 1)[:10].as_signed()

        # ---- the result row: lanes stored in turn, written in the cycle after the last ----
        # The low byte: VREQ's clamp of offset to [lo, hi], VPOOL's saturation of the
        # window's last result to [-128, 127] when it goes to the scratchpad, else the
        # result's.
        middle = result[7:31]  # all copies of the sign bit when the int32 result is an int8
        below = Mux(q_valid, Mux(over, negative, offset < vreq.lo),
                    to_sp & r_last & result[31] & ~middle.all())
        above = Mux(q_valid, Mux(over, ~negative, offset > vreq.hi),
                    to_sp & r_last & ~result[31] & middle.any())
        low8 = Signal(8)
        m.d.comb += low8.eq(Mux(below, Mux(q_valid, vreq.lo, -128),
                                Mux(above, Mux(q_valid, vreq.hi, 127),
                                    Mux(q_valid, offset[:8], result[:8]))))
        value = Cat(low8, result[8:])
        store = q_valid | (r_valid & ~f.is_req)
        store_lane = Signal(range(dim))
        m.d.comb += stored.eq(store & (store_lane == dim - 1) & (~f.is_pool | r_last))
        m.d.sync += write.eq(stored)
        with m.If(store):
            m.d.sync += [store_lane.eq(store_lane + 1),
                         out.eq(Cat(*[out[i] for i in range(1, dim)], value))]
        with m.If(write):
            m.d.sync += dst_row.eq(next_dst)
        m.d.comb += [
            self.acc_write.addr.eq(dst_row),
            self.acc_write.data.eq(out),
            self.acc_write.en.eq(write & ~to_sp),
            self.sp_write.addr.eq(dst_row),
            self.sp_write.data.eq(Cat(*[lane_[:8] for lane_ in out])),
            self.sp_write.en.eq(write & to_sp),
            self.busy.eq(issuing | r_valid | q_valid | write),
        ]
        with m.If(self.start):
            m.d.sync += [issuing.eq(1), params.eq(vreq.opcode == Opcode.VREQ),
                         n.eq(0), lane.eq(0), wy.eq(0), wx.eq(0), dst_row.eq(f.dst_start),
                         src_row.eq(f.src_start), window_row.eq(f.src_start),
                         element_row.eq(f.src_start)]
        return m
