"""What every cocotb bench needs: its parameters, a clock, a reset, packed lane vectors."""

from __future__ import annotations

import json
import os

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import RisingEdge

CLOCK_PERIOD_NS = 10


def parameters() -> dict:
    """Return the parameters the pytest side passed to this simulator run."""
    return json.loads(os.environ.get("KILN_BENCH_PARAMETERS", "{}"))


async def start(dut, reset_cycles: int = 2) -> None:
    """Start ``dut.clk`` and hold ``dut.rst`` high for ``reset_cycles`` rising edges."""
    cocotb.start_soon(Clock(dut.clk, CLOCK_PERIOD_NS, unit="ns").start())
    dut.rst.value = 1
    for _ in range(reset_cycles):
        await RisingEdge(dut.clk)
    dut.rst.value = 0


def pack(values, bits: int) -> int:
    """Pack integers (signed or not) into one vector, element 0 in the low ``bits`` bits."""
    mask = (1 << bits) - 1
    word = 0
    for index, value in enumerate(values):
        word |= (int(value) & mask) << (index * bits)
    return word


def unpack(word: int, count: int, bits: int, signed: bool = True) -> list[int]:
    """Split a vector into ``count`` elements of ``bits`` bits, element 0 from the low bits."""
    mask = (1 << bits) - 1
    values = []
    for index in range(count):
        value = (int(word) >> (index * bits)) & mask
        if signed and value >> (bits - 1):
            value -= 1 << bits
        values.append(value)
    return values
