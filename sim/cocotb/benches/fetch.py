"""Bench for `InstructionFetch`: random programs through a stalling DRAM and a stalling consumer.

Parameters: ``bus_bytes`` (matching the build), ``programs``,
``ready_probability`` (DRAM back-pressure), ``latency`` ([low, high]),
``consumer_probability`` (the decoder taking an instruction), ``seed``.

Each program has a random 16-byte aligned base and 0-40 instructions of random
bytes in a random DRAM image. Every instruction handed out must be the next one
in DRAM with its index, exactly ``count`` of them, ``busy`` must drop after the
last, and DRAM must see exactly the beats the program covers. Every third
program is cut short by ``stop`` (FINISH seen) at a random point: the consumer
keeps taking (and drops) what was in flight, ``draining`` must fall, and the
next program must start clean.
"""

from __future__ import annotations

import cocotb
import numpy as np
from kiln.hw.config import INSTRUCTION_BYTES
from kiln.sim.cocotb.bench import parameters, start
from kiln.sim.cocotb.dram_model import DramModel
from kiln.sim.cocotb.row_memory_model import MemoryClock

DRAM_BYTES = 4096
MAX_COUNT = 40


async def run_program(dut, clock: MemoryClock, dram: DramModel, rng, base: int, count: int,
                      stop_after: int | None, consumer: float) -> None:
    """Fetch ``count`` instructions at ``base``, optionally stopping after ``stop_after``."""
    bus = dram.bus_bytes
    reads_before = dram.reads
    dut.base.value, dut.count.value, dut.start.value = base, count, 1
    taken = 0
    stopped = False
    for cycle in range(50 * (count + 2) + 200):
        await clock.rise()
        await clock.fall()
        dut.start.value = 0
        if stopped:
            if not int(dut.draining.value) and not dram.responses:
                assert not int(dut.busy.value), "busy after stop"
                dut.stop.value = 0
                return
            dut.ready.value = 1  # the VPU drops what arrives after FINISH
            continue
        if stop_after is not None and taken == stop_after:
            dut.stop.value, dut.ready.value, stopped = 1, 1, True
            continue
        valid = int(dut.valid.value)
        ready = int(rng.random() < consumer)
        dut.ready.value = ready
        if valid and ready:
            assert taken < count, f"instruction {taken} handed out of a {count}-instruction program"
            index = int(dut.index.value)
            address = base + INSTRUCTION_BYTES * taken
            want = int.from_bytes(dram.memory[address:address + INSTRUCTION_BYTES].tobytes(),
                                  "little")
            got = int(dut.instruction.value)
            assert index == taken, f"index {index}, expected {taken}"
            assert got == want, (f"instruction {taken} at 0x{address:x} is {got:#034x}, "
                                 f"DRAM holds {want:#034x}")
            taken += 1
        busy = int(dut.busy.value)
        assert busy == int(taken < count) or (valid and ready), \
            f"cycle {cycle}: busy = {busy} with {taken} of {count} taken"
        if taken == count and not int(dut.draining.value) and not dram.responses:
            first, last = base // bus, (base + INSTRUCTION_BYTES * count - 1) // bus
            beats = 0 if count == 0 else (last - first + 1 if bus <= INSTRUCTION_BYTES
                                          else count)
            assert dram.reads - reads_before == beats, \
                f"{dram.reads - reads_before} DRAM reads for {count} instructions, expected {beats}"
            return
    raise AssertionError(f"program of {count} at 0x{base:x} not fetched in time ({taken} taken)")


@cocotb.test()
async def programs_arrive_in_order(dut):
    """Random programs, some stopped early, under DRAM and consumer back-pressure."""
    p = parameters()
    rng = np.random.default_rng(p.get("seed", 0))
    bus = p.get("bus_bytes", 8)
    memory = rng.integers(0, 256, DRAM_BYTES, dtype=np.uint8)
    dram = DramModel(dut, "dram__", memory, bus, ready_probability=p.get("ready_probability", 0.6),
                     latency=tuple(p.get("latency", [1, 8])), seed=p.get("seed", 0))
    clock = MemoryClock(dut, [], dram)
    for name in ("start", "base", "count", "ready", "stop"):
        getattr(dut, name).value = 0
    await start(dut)
    await clock.fall()
    for number in range(p.get("programs", 30)):
        count = int(rng.choice([0, 1, 2, int(rng.integers(3, MAX_COUNT + 1))]))
        base = INSTRUCTION_BYTES * int(rng.integers(0, DRAM_BYTES // INSTRUCTION_BYTES - count))
        stop_after = int(rng.integers(0, count)) if count and number % 3 == 2 else None
        await run_program(dut, clock, dram, rng, base, count, stop_after,
                          p.get("consumer_probability", 0.7))
    assert dram.writes == 0, f"instruction fetch wrote DRAM {dram.writes} times"


@cocotb.test()
async def stop_discards_in_flight_beats(dut):
    """After ``stop``, the docstring's contract: in-flight beats are dropped, not handed out.

    A consumer that stops taking after FINISH (ready low) must see ``valid`` stay
    low and ``draining`` fall once the DRAM has answered every read.
    """
    p = parameters()
    bus = p.get("bus_bytes", 8)
    memory = np.random.default_rng(p.get("seed", 0)).integers(0, 256, DRAM_BYTES, dtype=np.uint8)
    dram = DramModel(dut, "dram__", memory, bus, latency=5)
    clock = MemoryClock(dut, [], dram)
    for name in ("start", "base", "count", "ready", "stop"):
        getattr(dut, name).value = 0
    await start(dut)
    await clock.fall()
    dut.count.value, dut.start.value = 20, 1
    for _ in range(3):  # reads go out; none answered yet (latency 5)
        await clock.rise()
        await clock.fall()
        dut.start.value = 0
    assert dram.reads, "no read was requested before stop"
    dut.stop.value = 1
    valid_cycles = 0
    for _ in range(40):
        await clock.rise()
        await clock.fall()
        valid_cycles += int(dut.valid.value)
    assert not dram.responses, "DRAM still owes responses after 40 cycles"
    assert valid_cycles == 0, (f"valid was high for {valid_cycles} cycles after stop with ready "
                               f"low: beats in flight at stop were handed out, not discarded")
    assert not int(dut.draining.value), "draining still high 40 cycles after stop"
