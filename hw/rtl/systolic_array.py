"""The DIM x DIM weight-stationary systolic array: int8 operands, int32 partial sums."""

from __future__ import annotations

from amaranth import Module, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .pe import ACTIVATION, PARTIAL_SUM, WEIGHT, ProcessingElement


def array_latency(dim: int, compact: bool = False) -> int:
    """Return the cycles from a row entering the array to its result leaving it."""
    return 1 if compact else 2 * dim - 1


class SystolicArray(wiring.Component):
    """Multiply int8 row vectors by a stationary DIM x DIM int8 weight matrix.

    Each cycle one row ``x`` (DIM int8 lanes) may enter; ``array_latency(dim)``
    cycles later ``y[j] = sum_k x[k] * W[k][j]`` leaves, computed in int32 with
    wrap-around, together with the ``tag`` and ``valid`` it entered with. Rows
    are skewed on entry and de-skewed on exit inside the array, so callers see
    whole vectors. Two weight banks let the next W be written while rows use the
    other: a row multiplies with the bank named by its ``x_bank``. Write a bank only
    when no row using it has entered within the last ``array_latency(dim)`` cycles.

    A compact array (``compact``, a slow clock) is not systolic: the row's ``dim**2``
    products are summed in the cycle it enters and registered once, so its result
    leaves one cycle later (``array_latency(dim, compact=True)``). It has one weight
    bank (``x_bank`` and ``w_bank`` are ignored), held in the DSP blocks' input
    registers: write it only once the last row using the old weights has entered (a
    row entering in the cycle of a write multiplies with the old weights). It holds no
    skew, de-skew or partial-sum registers, only the result row.

    Ports:
        x (In, DIM x signed 8): input row; lane k multiplies weight row k.
        x_valid (In, 1): ``x`` holds a row this cycle.
        x_bank (In, 1): weight bank the row uses.
        x_tag (In, tag_width): opaque bits carried alongside the row.
        w_data (In, DIM x signed 8): one weight row, ``W[w_row][0..DIM-1]``.
        w_row (In, log2 DIM): the weight row written.
        w_bank (In, 1): the bank written.
        w_we (In, 1): write ``w_data`` at the next clock edge.
        y (Out, DIM x signed 32): result row.
        y_valid (Out, 1): ``y`` holds a result this cycle.
        y_tag (Out, tag_width): the tag of the row ``y`` belongs to.
        y_valid_next, y_tag_next (Out, 1 / tag_width): what ``y_valid`` and ``y_tag`` show
            in the next cycle (to read a row's accumulator one cycle ahead).
    """

    def __init__(self, dim: int, tag_width: int = 1, compact: bool = False):
        if dim < 1:
            raise ValueError(f"SystolicArray dim must be >= 1, got {dim}")
        self.dim = dim
        self.tag_width = tag_width
        self.compact = compact
        super().__init__({
            "x": In(data.ArrayLayout(ACTIVATION, dim)),
            "x_valid": In(1),
            "x_bank": In(1),
            "x_tag": In(tag_width),
            "w_data": In(data.ArrayLayout(WEIGHT, dim)),
            "w_row": In(range(max(dim, 2))),
            "w_bank": In(1),
            "w_we": In(1),
            "y": Out(data.ArrayLayout(PARTIAL_SUM, dim)),
            "y_valid": Out(1),
            "y_tag": Out(tag_width),
            "y_valid_next": Out(1),
            "y_tag_next": Out(tag_width),
        })

    def elaborate(self, platform):
        if self.compact:
            return self._elaborate_compact()
        m = Module()
        dim = self.dim
        cells = [[ProcessingElement() for _ in range(dim)] for _ in range(dim)]
        for k in range(dim):
            for j in range(dim):
                m.submodules[f"pe_{k}_{j}"] = cell = cells[k][j]
                m.d.comb += [
                    cell.w_data.eq(self.w_data[j]),
                    cell.w_bank.eq(self.w_bank),
                    cell.w_we.eq(self.w_we & (self.w_row == k)),
                ]
                if j > 0:
                    m.d.comb += [
                        cell.a_in.eq(cells[k][j - 1].a_out),
                        cell.a_bank_in.eq(cells[k][j - 1].a_bank_out),
                    ]
                if k > 0:
                    m.d.comb += cell.psum_in.eq(cells[k - 1][j].psum_out)

        # Skew: row k enters k cycles late, so its partial sum meets row k-1's.
        for k in range(dim):
            a, bank = self.x[k], self.x_bank
            for stage in range(k):
                a_next = Signal(ACTIVATION, name=f"skew_a_{k}_{stage}")
                bank_next = Signal(name=f"skew_bank_{k}_{stage}")
                m.d.sync += [a_next.eq(a), bank_next.eq(bank)]
                a, bank = a_next, bank_next
            m.d.comb += [cells[k][0].a_in.eq(a), cells[k][0].a_bank_in.eq(bank)]

        # De-skew: column j leaves j cycles early, so delay it dim-1-j cycles.
        for j in range(dim):
            psum = cells[dim - 1][j].psum_out
            for stage in range(dim - 1 - j):
                psum_next = Signal(signed(32), name=f"deskew_{j}_{stage}")
                m.d.sync += psum_next.eq(psum)
                psum = psum_next
            m.d.comb += self.y[j].eq(psum)

        valid, tag = self.x_valid, self.x_tag
        for stage in range(array_latency(dim)):
            m.d.comb += [self.y_valid_next.eq(valid), self.y_tag_next.eq(tag)]
            valid_next = Signal(name=f"valid_{stage}")
            tag_next = Signal(self.tag_width, name=f"tag_{stage}")
            m.d.sync += [valid_next.eq(valid), tag_next.eq(tag)]
            valid, tag = valid_next, tag_next
        m.d.comb += [self.y_valid.eq(valid), self.y_tag.eq(tag)]
        return m

    def _elaborate_compact(self):
        m = Module()
        dim = self.dim
        # Without a reset, Yosys packs each weight into its multiplier's input register.
        weights = [[Signal(WEIGHT, name=f"weight_{k}_{j}", reset_less=True)
                    for j in range(dim)] for k in range(dim)]
        for k in range(dim):
            with m.If(self.w_we & (self.w_row == k)):
                m.d.sync += [weights[k][j].eq(self.w_data[j]) for j in range(dim)]
        for j in range(dim):
            m.d.sync += self.y[j].eq(sum(self.x[k] * weights[k][j] for k in range(dim)))
        m.d.comb += [self.y_valid_next.eq(self.x_valid), self.y_tag_next.eq(self.x_tag)]
        m.d.sync += [self.y_valid.eq(self.x_valid), self.y_tag.eq(self.x_tag)]
        return m
