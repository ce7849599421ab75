"""Measure how fast the RTL VPU simulates: simulated clock cycles per second of wall time.

Usage: ``.venv/bin/python benchmarks/bench_rtl.py [--dim 8] [--program conv3x3_relu]``

Builds ``VPU(config)`` with Verilator once (cached), then runs the example
programs plus a large matmul (``--rows`` x 64 by 64 x 64 int8) and prints, per
program, the RTL cycles, the wall time of the whole run (simulator start-up
included), the wall time from START to DONE inside the simulator, the simulated
cycles per second over the latter, and the timing model's error against the RTL.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from kiln.hw.config import VPUConfig
from kiln.sim.cocotb import cosim
from kiln.sim.programs import example_programs, matmul_program


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=VPUConfig().dim)
    parser.add_argument("--program", action="append",
                        help="example program name (repeatable; default: all)")
    parser.add_argument("--rows", type=int, default=512,
                        help="rows of the large matmul's left operand (default 512)")
    args = parser.parse_args()
    config = VPUConfig(dim=args.dim)
    start = time.perf_counter()
    cosim.vpu_design(config).build()
    print(f"VPU dim={config.dim} (sp {config.sp_depth} rows, acc {config.acc_depth} rows): "
          f"Verilator build ready in {time.perf_counter() - start:.1f} s")
    programs = [p for p in example_programs(config)
                if not args.program or p.name in args.program]
    rng = np.random.default_rng(0)
    programs.append(matmul_program(
        config, rng.integers(-128, 128, (args.rows, 64), dtype=np.int8),
        rng.integers(-128, 128, (64, 64), dtype=np.int8), f"matmul_{args.rows}x64x64"))
    print(f"{'program':<22}{'RTL cycles':>12}{'run s':>8}{'sim s':>8}{'cycles/s':>11}"
          f"{'model err':>11}")
    total_cycles = total_seconds = 0.0
    for program in programs:
        start = time.perf_counter()
        result = cosim.cosimulate(program.instructions, program.dram_image, config,
                                  program_address=program.program_address)
        wall = time.perf_counter() - start
        rtl = result.rtl
        total_cycles += rtl.cycles
        total_seconds += rtl.seconds
        print(f"{program.name:<22}{rtl.cycles:>12,}{wall:>8.2f}{rtl.seconds:>8.2f}"
              f"{rtl.cycles / rtl.seconds:>11,.0f}{result.cycle_error:>+11.1%}")
    print(f"{'all':<22}{int(total_cycles):>12,}{'':>8}{total_seconds:>8.2f}"
          f"{total_cycles / total_seconds:>11,.0f}")


if __name__ == "__main__":
    main()
