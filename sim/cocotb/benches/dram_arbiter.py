"""Bench for `DramArbiter`: masters with random reads and writes behind a stalling DRAM.

Parameters: ``masters``, ``bus_bytes``, ``requests`` (per master),
``ready_probability``, ``latency`` ([low, high]), ``seed``. Each master owns one
DRAM region; every read must return what that master last wrote there, to that
master and no other, and every master must finish (no starvation).
"""

from __future__ import annotations

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, ReadOnly, ReadWrite
from kiln.sim.cocotb.bench import parameters, start
from kiln.sim.cocotb.dram_model import DramModel

REGION_BEATS = 8


class BusMaster:
    """Offer one request at a time on ``master<i>`` and check read responses in order."""

    def __init__(self, dut, index: int, bus_bytes: int, requests: int, rng):
        self.port = {name: getattr(dut, f"master{index}__{name}") for name in (
            "req_valid", "req_ready", "req_addr", "req_we", "req_wdata", "req_wmask",
            "resp_valid", "resp_rdata")}
        self.index, self.bus_bytes, self.rng = index, bus_bytes, rng
        self.base = index * REGION_BEATS * bus_bytes
        self.shadow = np.zeros(REGION_BEATS * bus_bytes, dtype=np.uint8)
        self.remaining = requests
        self.offered = None  # (is_write, beat, data, mask)
        self.expected_reads: list[int] = []
        self.answered = 0
        self.port["req_valid"].value = 0

    def offer(self) -> None:
        if self.offered is None and self.remaining and self.rng.random() < 0.8:
            beat = int(self.rng.integers(REGION_BEATS))
            write = bool(self.rng.random() < 0.5)
            data = self.rng.integers(0, 256, self.bus_bytes, dtype=np.uint8)
            mask = int(self.rng.integers(0, 1 << self.bus_bytes))
            self.offered = (write, beat, data, mask)
            self.remaining -= 1
        p = self.port
        p["req_valid"].value = int(self.offered is not None)
        if self.offered is not None:
            write, beat, data, mask = self.offered
            p["req_addr"].value = self.base + beat * self.bus_bytes
            p["req_we"].value = int(write)
            p["req_wdata"].value = int.from_bytes(data.tobytes(), "little")
            p["req_wmask"].value = mask

    def sample(self) -> None:
        p = self.port
        if self.offered is not None and int(p["req_ready"].value):
            write, beat, data, mask = self.offered
            span = slice(beat * self.bus_bytes, (beat + 1) * self.bus_bytes)
            if write:
                keep = np.array([(mask >> i) & 1 for i in range(self.bus_bytes)], dtype=bool)
                self.shadow[span] = np.where(keep, data, self.shadow[span])
            else:
                self.expected_reads.append(int.from_bytes(self.shadow[span].tobytes(), "little"))
            self.offered = None
        if int(p["resp_valid"].value):
            assert self.answered < len(self.expected_reads), \
                f"master {self.index} got a response it did not ask for"
            got = int(p["resp_rdata"].value)
            want = self.expected_reads[self.answered]
            assert got == want, f"master {self.index} read {got:x}, expected {want:x}"
            self.answered += 1

    @property
    def done(self) -> bool:
        return (not self.remaining and self.offered is None
                and self.answered == len(self.expected_reads))


@cocotb.test()
async def reads_return_to_their_master(dut):
    """Random traffic from every master; check data, routing and completion."""
    p = parameters()
    masters, bus_bytes = p.get("masters", 3), p.get("bus_bytes", 8)
    rng = np.random.default_rng(p.get("seed", 0))
    memory = np.zeros(masters * REGION_BEATS * bus_bytes, dtype=np.uint8)
    dram = DramModel(dut, "memory__", memory, bus_bytes,
                     ready_probability=p.get("ready_probability", 0.6),
                     latency=tuple(p.get("latency", [1, 6])), seed=p.get("seed", 0))
    bus = [BusMaster(dut, i, bus_bytes, p.get("requests", 100), rng) for i in range(masters)]
    await start(dut)
    for _cycle in range(100_000):
        await FallingEdge(dut.clk)
        for master in bus:
            master.offer()
        await ReadWrite()
        dram.step()
        await ReadOnly()
        for master in bus:
            master.sample()
        if all(master.done for master in bus) and not dram.responses:
            break
    else:
        raise AssertionError("arbiter traffic did not complete in 100000 cycles")
    assert dram.reads + dram.writes == masters * p.get("requests", 100)
