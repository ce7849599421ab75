"""The processing element: one int8 multiply-accumulate cell of the systolic array."""

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

ACTIVATION = signed(8)
WEIGHT = signed(8)
PARTIAL_SUM = signed(32)


class ProcessingElement(wiring.Component):
    """Multiply-accumulate cell of a weight-stationary systolic array.

    The cell holds two int8 weights (bank 0 and bank 1) so that the next
    weights can be written while the current ones are in use; the bank an
    activation uses travels with it from cell to cell.

    Ports:
        a_in (In, signed 8): activation from the left neighbour (or the array edge).
        a_bank_in (In, 1): weight bank the activation multiplies with.
        a_out (Out, signed 8): ``a_in`` registered one cycle, to the right neighbour.
        a_bank_out (Out, 1): ``a_bank_in`` registered one cycle.
        psum_in (In, signed 32): partial sum from the cell above (0 at the top row).
        psum_out (Out, signed 32): ``psum_in + a_in * weight[a_bank_in]``, registered
            one cycle, wrapping modulo 2**32.
        w_data (In, signed 8): weight to write.
        w_we (In, 1): write ``w_data`` into bank ``w_bank`` at the next clock edge.
        w_bank (In, 1): bank written by ``w_we``.
    """

    a_in: In(ACTIVATION)
    a_bank_in: In(1)
    a_out: Out(ACTIVATION)
    a_bank_out: Out(1)
    psum_in: In(PARTIAL_SUM)
    psum_out: Out(PARTIAL_SUM)
    w_data: In(WEIGHT)
    w_we: In(1)
    w_bank: In(1)

    def elaborate(self, platform):
        m = Module()
        weight = [Signal(WEIGHT, name=f"weight{bank}") for bank in range(2)]
        with m.If(self.w_we):
            with m.If(self.w_bank):
                m.d.sync += weight[1].eq(self.w_data)
            with m.Else():
                m.d.sync += weight[0].eq(self.w_data)
        active = Mux(self.a_bank_in, weight[1], weight[0])
        m.d.sync += [
            self.a_out.eq(self.a_in),
            self.a_bank_out.eq(self.a_bank_in),
            self.psum_out.eq(self.psum_in + self.a_in * active),
        ]
        return m
