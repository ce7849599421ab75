"""Bench that runs one ISA program on the RTL `VPU` with a modelled DRAM.

The pytest/host side (`kiln.sim.cocotb.cosim.run_rtl`) writes a job folder:
``job.json`` (program address and count, cycle limit, DRAM timing) and
``dram_in.npy`` (the DRAM image). This bench loads the image into a `DramModel`,
starts the program through the registers, waits for DONE or ERROR (the VPU's
WATCHDOG register stops a hung program; the bench's own limit backs it up), and
writes ``dram_out.npy`` and ``result.json`` (status, error, every counter).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles
from kiln.hw import registers
from kiln.sim.cocotb.bench import parameters, start
from kiln.sim.cocotb.dram_model import DramModel
from kiln.sim.cocotb.register_driver import RegisterDriver

POLL_CYCLES = 64


@cocotb.test()
async def run_program(dut):
    """Run the job's program to DONE or ERROR and save DRAM and counters."""
    job = Path(parameters()["job"])
    spec = json.loads((job / "job.json").read_text())
    dram = np.load(job / "dram_in.npy")
    latency = spec["dram_latency"]
    model = DramModel(dut, "dram__", dram, spec["bus_bytes"],
                      ready_probability=spec.get("ready_probability", 1.0),
                      latency=tuple(latency) if isinstance(latency, list) else latency,
                      seed=spec.get("seed", 0))
    csr = RegisterDriver(dut)
    await start(dut)
    cocotb.start_soon(model.run())
    await csr.write("PROGRAM_ADDRESS", spec["program_address"])
    await csr.write("PROGRAM_COUNT", spec["instruction_count"])
    await csr.write("WATCHDOG", min(spec["max_cycles"], 0xFFFF_FFFF))
    await csr.write("CONTROL", 1 << registers.bit("CONTROL", "START"))
    done_bit = 1 << registers.bit("STATUS", "DONE")
    error_bit = 1 << registers.bit("STATUS", "ERROR")
    waited, status = 0, 0
    started = time.perf_counter()
    limit = spec["max_cycles"] + 1000
    while waited < limit:
        await ClockCycles(dut.clk, POLL_CYCLES)
        waited += POLL_CYCLES
        status = await csr.read("STATUS")
        if status & (done_bit | error_bit):
            break
    seconds = time.perf_counter() - started
    result = {
        "seconds": seconds,
        "status": status,
        "done": bool(status & done_bit),
        "error": bool(status & error_bit),
        "bench_timeout": not status & (done_bit | error_bit),
        "error_code": await csr.read("ERROR_CODE"),
        "error_index": await csr.read("ERROR_INDEX"),
        "counters": {name: await csr.read_counter(name) for name in registers.COUNTERS},
        "dram_reads": model.reads,
        "dram_writes": model.writes,
    }
    while model.responses:  # let reads in flight land before saving DRAM
        await ClockCycles(dut.clk, 1)
    np.save(job / "dram_out.npy", dram)
    (job / "result.json").write_text(json.dumps(result))
