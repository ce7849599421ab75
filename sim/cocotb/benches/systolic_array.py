"""Bench for `SystolicArray` and `ProcessingElement`: random rows against numpy int32 matmul.

Parameters: ``dim``, ``rows`` (rows streamed per phase), ``seed``, ``compact`` (matching
the build).
Rows enter with random bubbles and random banks while the other bank is
rewritten, so the bank hand-over is checked as well as the arithmetic. A compact
array has one bank: it is rewritten between phases, in the cycle after a phase's last row.
"""

from __future__ import annotations

import cocotb
import numpy as np
from cocotb.triggers import ReadOnly, RisingEdge
from kiln.hw.rtl.systolic_array import array_latency
from kiln.sim.cocotb.bench import pack, parameters, start, unpack


class SystolicArrayTB:
    """Drive rows and weight writes into the array and collect result rows with their cycle."""

    def __init__(self, dut, dim: int):
        self.dut, self.dim = dut, dim
        self.cycle = 0
        self.results: list[tuple[int, int, list[int]]] = []  # (cycle, tag, y)
        dut.x_valid.value = 0
        dut.w_we.value = 0
        dut.x.value = 0
        dut.x_tag.value = 0
        dut.x_bank.value = 0

    async def monitor(self):
        while True:
            await RisingEdge(self.dut.clk)
            await ReadOnly()
            self.cycle += 1
            if int(self.dut.y_valid.value):
                y = unpack(self.dut.y.value, self.dim, 32)
                self.results.append((self.cycle, int(self.dut.y_tag.value), y))

    async def write_weight_row(self, bank: int, row: int, values) -> None:
        self.dut.w_we.value = 1
        self.dut.w_bank.value = bank
        self.dut.w_row.value = row
        self.dut.w_data.value = pack(values, 8)


def extreme_matrix(rng, shape):
    """Return int8 values drawn mostly from the corners (-128, -1, 0, 1, 127)."""
    corners = np.array([-128, -127, -1, 0, 1, 126, 127], dtype=np.int8)
    picks = rng.integers(0, 2, size=shape).astype(bool)
    return np.where(picks, rng.choice(corners, size=shape),
                    rng.integers(-128, 128, size=shape)).astype(np.int8)


@cocotb.test()
async def rows_match_numpy(dut):
    """Stream random and extreme rows through both banks; compare every result row."""
    p = parameters()
    dim, rows, seed = p.get("dim", 4), p.get("rows", 40), p.get("seed", 1)
    compact = p.get("compact", False)
    latency, banks = array_latency(dim, compact), 1 if compact else 2
    rng = np.random.default_rng(seed)
    tb = SystolicArrayTB(dut, dim)
    await start(dut)
    cocotb.start_soon(tb.monitor())

    weights = [extreme_matrix(rng, (dim, dim)) for _ in range(banks)]
    for bank in range(banks):
        for k in range(dim):
            await RisingEdge(dut.clk)
            await tb.write_weight_row(bank, k, weights[bank][k])
    await RisingEdge(dut.clk)
    dut.w_we.value = 0

    expected = []  # (tag, y, entry cycle)
    tag = 0
    for phase in range(3):
        use_bank = phase % banks
        other_bank = (use_bank + 1) % banks
        pending = [(k, extreme_matrix(rng, (dim,))) for k in range(dim)] if phase else []
        new_weights = weights[other_bank].copy()
        for step in range(rows):
            await RisingEdge(dut.clk)
            # The other bank was used by the previous phase: rewrite it once those rows
            # have left the array (the array's contract), while this phase streams.
            if pending and banks == 2 and step >= latency and rng.random() < 0.5:
                k, row = pending.pop(0)
                new_weights[k] = row
                await tb.write_weight_row(other_bank, k, row)
            else:
                dut.w_we.value = 0
            if rng.random() < 0.75:
                x = extreme_matrix(rng, (dim,))
                y = (x.astype(np.int64) @ weights[use_bank].astype(np.int64))
                y = ((y + 2**31) % 2**32 - 2**31).astype(np.int64)
                dut.x.value = pack(x, 8)
                dut.x_bank.value = use_bank
                dut.x_tag.value = tag & 0xFF
                dut.x_valid.value = 1
                expected.append((tag & 0xFF, y.tolist(), tb.cycle))
                tag += 1
            else:
                dut.x_valid.value = 0
        for k, row in pending:
            await RisingEdge(dut.clk)
            await tb.write_weight_row(other_bank, k, row)
            new_weights[k] = row
            dut.x_valid.value = 0
        await RisingEdge(dut.clk)
        dut.w_we.value = 0
        dut.x_valid.value = 0
        weights[other_bank] = new_weights
    for _ in range(latency + 4):
        await RisingEdge(dut.clk)

    assert len(tb.results) == len(expected), (len(tb.results), len(expected))
    for (cycle, got_tag, got), (want_tag, want, entry) in zip(tb.results, expected):
        assert got_tag == want_tag, f"row tag {got_tag} where {want_tag} was expected"
        assert got == want, f"row {want_tag}: got {got}, expected {want}"
        assert cycle - entry == latency + 1, (cycle, entry)
