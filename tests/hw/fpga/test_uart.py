"""The UART receiver and transmitter alone, in Amaranth's simulator."""

import pytest
from amaranth.sim import Simulator
from kiln.hw.fpga.uart import UartReceiver, UartTransmitter


def _frames(data, bit_cycles):
    """Return the line level per clock cycle for 8N1 ``data`` at ``bit_cycles`` per bit."""
    levels = [1] * 8
    for byte in data:
        bits = [0, *((byte >> i) & 1 for i in range(8)), 1]
        for i, bit in enumerate(bits):
            levels += [bit] * (round((i + 1) * bit_cycles) - round(i * bit_cycles))
    return levels + [1] * 16


@pytest.mark.parametrize("bit_cycles", [8, 8 * 0.98, 8 * 1.02])
def test_receiver_tolerates_two_percent_baud_error(bit_cycles):
    dut = UartReceiver(8)
    data = [0x00, 0xFF, 0xA5, 0x5A, 0x01, 0x80]
    got = []

    async def bench(ctx):
        for level in _frames(data, bit_cycles):
            ctx.set(dut.rx, level)
            await ctx.tick()
            if ctx.get(dut.data.valid):
                got.append(ctx.get(dut.data.payload))
            assert not ctx.get(dut.framing_error)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert got == data


def test_receiver_flags_a_missing_stop_bit_and_drops_the_byte():
    dut = UartReceiver(4)
    levels = [1] * 4 + [0] * 4 * 10 + [1] * 8 + _frames([0x3C], 4)
    got, errors = [], []

    async def bench(ctx):
        for level in levels:
            ctx.set(dut.rx, level)
            await ctx.tick()
            if ctx.get(dut.data.valid):
                got.append(ctx.get(dut.data.payload))
            errors.append(ctx.get(dut.framing_error))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert sum(errors) == 1
    assert got == [0x3C]


def test_transmitter_sends_8n1_lsb_first():
    dut = UartTransmitter(4)
    levels = []

    async def bench(ctx):
        ctx.set(dut.data.payload, 0xC5)
        ctx.set(dut.data.valid, 1)
        await ctx.tick().until(dut.data.ready)
        ctx.set(dut.data.valid, 0)
        for _ in range(4 * 11):
            levels.append(ctx.get(dut.tx))
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    start = levels.index(0)
    bits = [levels[start + 4 * i + 2] for i in range(10)]
    assert bits == [0, 1, 0, 1, 0, 0, 0, 1, 1, 1]
