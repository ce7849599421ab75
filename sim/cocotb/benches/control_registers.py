"""Bench for `ControlRegisters`: the CSR map of kiln.hw.registers through the register port.

Parameters: ``dim``, ``sp_depth``, ``acc_depth``, ``counter_bits`` (the config the design
was built with; 32-bit counters wrap and read 0 in their HI words), ``macs`` (the MACs
counted per cycle: a compact build counts at most dim**2).
"""

from __future__ import annotations

import cocotb
from cocotb.triggers import FallingEdge
from kiln.hw import registers
from kiln.sim.cocotb.bench import parameters, start
from kiln.sim.cocotb.register_driver import RegisterDriver

INPUTS = ("running", "done", "error", "error_code", "error_index", "retired", "macs",
          "read_bytes", "write_bytes", "busy_load", "busy_compute", "busy_store",
          "stall_load", "stall_compute", "stall_store", "stall_fetch")


@cocotb.test()
async def registers_follow_the_map(dut):
    """RW registers hold, RO ones ignore writes, counters count while running."""
    p = parameters()
    for name in INPUTS:
        getattr(dut, name).value = 0
    csr = RegisterDriver(dut)
    await start(dut)
    for name, value in (("PROGRAM_ADDRESS", 0x1234_5670), ("PROGRAM_COUNT", 77),
                        ("WATCHDOG", 0xFFFF_FFFF)):
        await csr.write(name, value)
        assert await csr.read(name) == value, name
    assert int(dut.program_count.value) == 77
    assert await csr.read("CONFIG_DIM") == p["dim"]
    assert await csr.read("CONFIG_SP_DEPTH") == p["sp_depth"]
    assert await csr.read("CONFIG_ACC_DEPTH") == p["acc_depth"]
    await csr.write("CONFIG_DIM", 99)  # read-only: ignored
    assert await csr.read("CONFIG_DIM") == p["dim"]
    dut.csr__addr.value = 0x7C  # inside the window, unmapped
    await FallingEdge(dut.clk)
    await FallingEdge(dut.clk)
    assert int(dut.csr__rdata.value) == 0

    # START pulses once, counters clear, then count while running.
    macs = p.get("macs", 65535)
    cycles = 70_000  # 65535 * 70000 > 2**32: the HI word (or the wrap) is checked too
    await run(dut, csr, cycles, macs=macs, busy_compute=1, retired=1)
    assert await csr.read_counter("cycles") == cycles
    assert await csr.read_counter("macs") == macs * cycles % (1 << p["counter_bits"])
    assert await csr.read_counter("busy_compute") == cycles
    assert await csr.read_counter("retired") == cycles
    await csr.write("CONTROL", 1 << registers.bit("CONTROL", "CLEAR"))
    for name in registers.COUNTERS:
        assert await csr.read_counter(name) == 0, name

    # A second run counts from 0 again.
    await run(dut, csr, 100, retired=3, stall_fetch=1, read_bytes=p["dim"])
    assert await csr.read_counter("cycles") == 100
    assert await csr.read_counter("retired") == 300
    assert await csr.read_counter("stall_fetch") == 100
    assert await csr.read_counter("dma_read_bytes") == 100 * p["dim"]
    assert await csr.read_counter("busy_compute") == 0


async def run(dut, csr: RegisterDriver, cycles: int, **counted: int) -> None:
    """Start a run, drive ``counted`` inputs for ``cycles`` cycles, end it with DONE and
    wait until STATUS shows DONE (a compact build settles its counters first)."""
    await FallingEdge(dut.clk)
    dut.done.value = 0
    dut.csr__addr.value = registers.offset("CONTROL")
    dut.csr__wdata.value = 1 << registers.bit("CONTROL", "START")
    dut.csr__we.value = 1
    await FallingEdge(dut.clk)
    dut.csr__we.value = 0
    dut.running.value = 1
    for name, value in counted.items():
        getattr(dut, name).value = value
    for _ in range(cycles):
        await FallingEdge(dut.clk)
    dut.running.value = 0
    dut.done.value = 1
    for name in counted:
        getattr(dut, name).value = 0
    done = 1 << registers.bit("STATUS", "DONE")
    for _ in range(64):
        status = await csr.read("STATUS")
        if status & done:
            break
    assert status == done, f"STATUS 0x{status:x}"
