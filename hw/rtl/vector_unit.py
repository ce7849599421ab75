"""The post-processing unit: VADD, VCLIP, VREQ and VPOOL on accumulator and scratchpad rows."""

from amaranth import Cat, Module, Mux, Signal, signed
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


class VectorUnit(wiring.Component):
    """Execute one vector instruction (VADD, VCLIP, VREQ or VPOOL), one source row per cycle.

    Rows are read in the order the instruction's loop gives them; a row read in
    cycle t is combined and written in cycle t+1 (VREQ: t+2, after its 32x32-bit
    multiply). VREQ first reads its multiplier and shift rows in one cycle. VPOOL
    reads the win_h x win_w window rows of each output in turn and writes the
    output with the window's last row. Arithmetic is the ISA's: 32-bit wrapping
    adds, exact 64-bit requantize products with round-half-up arithmetic shifts,
    saturation only where the ISA says so.

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
        m = Module()
        dim = self.config.dim
        word = self.instruction
        opcode = word[OPCODE_FIELD.offset:OPCODE_FIELD.offset + OPCODE_FIELD.width]
        vadd = instruction_view(Opcode.VADD, word)
        vclip = instruction_view(Opcode.VCLIP, word)
        vreq = instruction_view(Opcode.VREQ, word)
        vpool = instruction_view(Opcode.VPOOL, word)
        is_add, is_clip = opcode == Opcode.VADD, opcode == Opcode.VCLIP
        is_req, is_pool = opcode == Opcode.VREQ, opcode == Opcode.VPOOL

        count = Mux(is_add, vadd.count, Mux(is_clip, vclip.count,
                                              Mux(is_req, vreq.count, vpool.count)))
        dst_stride = Mux(is_add, vadd.dst_stride, Mux(is_clip, vclip.dst_stride,
                                                      Mux(is_req, vreq.dst_stride,
                                                          vpool.dst_stride)))
        src_stride = Mux(is_add, vadd.src_stride, Mux(is_req, vreq.src_stride,
                                                      vpool.src_stride))
        dst_start = Mux(is_add, vadd.dst, Mux(is_clip, vclip.dst,
                                              Mux(is_req, vreq.dst, vpool.dst)))
        src_start = Mux(is_add, vadd.src, Mux(is_req, vreq.src, vpool.src))
        win_h = Mux(is_pool, vpool.win_h, 1)
        win_w = Mux(is_pool, vpool.win_w, 1)
        src_is_sp = Mux(is_add, vadd.src_mem == SP, is_pool & (vpool.src_mem == SP))

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

        # ---- stage 1: operands arrive ----
        s1_valid, s1_first, s1_last, s1_params = Signal(), Signal(), Signal(), Signal()
        s1_dst = Signal(16)
        m.d.sync += [s1_valid.eq(step), s1_first.eq(first), s1_last.eq(last_in_window),
                     s1_dst.eq(dst_row), s1_params.eq(params)]
        lanes32 = data.ArrayLayout(signed(32), dim)
        lanes8 = data.ArrayLayout(signed(8), dim)
        a = data.View(lanes32, self.acc_read_a.data)
        b_acc = data.View(lanes32, self.acc_read_b.data)
        b_sp = data.View(lanes8, self.sp_read.data)
        b = Signal(lanes32)
        for lane in range(dim):
            m.d.comb += b[lane].eq(Mux(src_is_sp, b_sp[lane], b_acc[lane]))

        multiplier = Signal(lanes32)
        shift = Signal(data.ArrayLayout(6, dim))
        with m.If(s1_params):
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
            reduced = Mux(s1_first, b[lane], combined)
            with m.If(is_add):
                m.d.comb += result[lane].eq((a[lane] + b[lane])[:32])
            with m.Elif(is_clip):
                m.d.comb += result[lane].eq(_saturate(a[lane], vclip.lo, vclip.hi))
            with m.Else():
                m.d.comb += result[lane].eq(reduced)
            with m.If(s1_valid & is_pool):
                m.d.sync += pooled[lane].eq(reduced)
        with m.If(s1_valid):
            m.d.comb += [
                acc_write.eq(is_add | is_clip | (is_pool & s1_last & (vpool.dst_mem == ACC))),
                sp_write.eq(is_pool & s1_last & (vpool.dst_mem == SP)),
            ]
        saturated = Cat(*[_saturate(result[lane], -128, 127)[:8] for lane in range(dim)])

        # ---- stage 2 (VREQ): exact product, then shift, round, offset, clamp ----
        s2_valid = Signal()
        s2_dst = Signal(16)
        products = Signal(data.ArrayLayout(signed(64), dim))
        m.d.sync += [s2_valid.eq(s1_valid & is_req), s2_dst.eq(s1_dst)]
        for lane in range(dim):
            m.d.sync += products[lane].eq(a[lane] * multiplier[lane])
        requantized = []
        for lane in range(dim):
            doubled = Signal(signed(66), name=f"doubled{lane}")
            m.d.comb += doubled.eq((products[lane] << 1) >> shift[lane])
            rounded = (doubled >> 1) + doubled[0]
            requantized.append(_saturate(rounded + vreq.zero_point, vreq.lo, vreq.hi)[:8])

        m.d.comb += [
            self.acc_write.addr.eq(s1_dst),
            self.acc_write.data.eq(result),
            self.acc_write.en.eq(acc_write),
            self.sp_write.addr.eq(Mux(s2_valid, s2_dst, s1_dst)),
            self.sp_write.data.eq(Mux(s2_valid, Cat(*requantized), saturated)),
            self.sp_write.en.eq(s2_valid | sp_write),
        ]

        m.d.comb += self.busy.eq(issuing | s1_valid | s2_valid)
        with m.If(self.start):
            m.d.sync += [issuing.eq(1), params.eq(is_req), n.eq(0), wy.eq(0), wx.eq(0),
                         dst_row.eq(dst_start), src_row.eq(src_start),
                         window_row.eq(src_start), element_row.eq(src_start)]
        return m
