"""The compute engine: GEMM on the systolic array and vector instructions on the PPU."""

from amaranth import Module, Mux
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..config import INSTRUCTION_BITS
from ..isa import OPCODE_FIELD, Opcode
from .gemm_engine import GemmEngine
from .memories import RowReadPort, RowWritePort
from .vector_unit import VectorUnit


class ComputeEngine(wiring.Component):
    """Execute the compute queue's instructions: GEMM, VADD, VCLIP, VREQ, VPOOL.

    GEMM runs on `GemmEngine`, the others on `VectorUnit`; one instruction at a
    time, so the two share the memory ports.

    Ports:
        start (In, 1): begin executing ``instruction`` at this edge.
        instruction (In, 128): the instruction, held while ``busy``.
        busy (Out, 1): high from the cycle after ``start`` until its last row is written.
        sp_read_a (Out RowReadPort): GEMM input rows, vector int8 source rows.
        sp_read_b (Out RowReadPort): GEMM weight rows.
        acc_read_a, acc_read_b (Out RowReadPort): accumulator operand rows.
        acc_write, sp_write (Out RowWritePort): results; they take priority over LOAD.
        macs (Out, 16): multiply-accumulates started this cycle.
    """

    def __init__(self, config):
        self.config = config
        sp_bits, acc_bits = 8 * config.sp_row_bytes, 8 * config.acc_row_bytes
        sp_addr, acc_addr = config.sp_address_bits, config.acc_address_bits
        super().__init__({
            "start": In(1),
            "instruction": In(INSTRUCTION_BITS),
            "busy": Out(1),
            "sp_read_a": Out(RowReadPort(sp_bits, sp_addr)),
            "sp_read_b": Out(RowReadPort(sp_bits, sp_addr)),
            "acc_read_a": Out(RowReadPort(acc_bits, acc_addr)),
            "acc_read_b": Out(RowReadPort(acc_bits, acc_addr)),
            "acc_write": Out(RowWritePort(acc_bits, acc_addr)),
            "sp_write": Out(RowWritePort(sp_bits, sp_addr)),
            "macs": Out(16 if config.dim ** 2 < 1 << 16 else 32),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.gemm = gemm = GemmEngine(self.config)
        m.submodules.vector = vector = VectorUnit(self.config)
        opcode = self.instruction[OPCODE_FIELD.offset:OPCODE_FIELD.offset + OPCODE_FIELD.width]
        is_gemm = opcode == Opcode.GEMM
        m.d.comb += [
            gemm.instruction.eq(self.instruction),
            vector.instruction.eq(self.instruction),
            gemm.start.eq(self.start & is_gemm),
            vector.start.eq(self.start & ~is_gemm),
            self.busy.eq(gemm.busy | vector.busy),
            self.macs.eq(gemm.macs),
        ]
        g = gemm.busy
        for outer, from_gemm, from_vector in (
                (self.sp_read_a, gemm.input_read, vector.sp_read),
                (self.acc_read_a, gemm.acc_read, vector.acc_read_a)):
            m.d.comb += [outer.addr.eq(Mux(g, from_gemm.addr, from_vector.addr)),
                         outer.en.eq(Mux(g, from_gemm.en, from_vector.en)),
                         from_gemm.data.eq(outer.data), from_vector.data.eq(outer.data)]
        m.d.comb += [
            self.sp_read_b.addr.eq(gemm.weight_read.addr),
            self.sp_read_b.en.eq(gemm.weight_read.en),
            gemm.weight_read.data.eq(self.sp_read_b.data),
            self.acc_read_b.addr.eq(vector.acc_read_b.addr),
            self.acc_read_b.en.eq(vector.acc_read_b.en),
            vector.acc_read_b.data.eq(self.acc_read_b.data),
            self.acc_write.addr.eq(Mux(g, gemm.acc_write.addr, vector.acc_write.addr)),
            self.acc_write.data.eq(Mux(g, gemm.acc_write.data, vector.acc_write.data)),
            self.acc_write.en.eq(Mux(g, gemm.acc_write.en, vector.acc_write.en)),
            self.sp_write.addr.eq(vector.sp_write.addr),
            self.sp_write.data.eq(vector.sp_write.data),
            self.sp_write.en.eq(vector.sp_write.en),
        ]
        return m
