"""Benchmark the ISA simulator on a ResNet-style conv layer (3x3, 64->64, 56x56, pad 1).

Prints, per array size: how fast the simulator runs (simulated MACs per wall-clock
second, one core) and what the timing model says about the VPU (cycles, MAC
utilisation, DMA traffic, stalls), and checks the output bit-exact against the
numpy reference.

    .venv/bin/python benchmarks/bench_isa_sim.py [--dims 8 16 32] [--repeat 3]
        [--trace conv.json] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import time

# One core, as the figures claim: pin BLAS to one thread before numpy loads it.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
from kiln.hw.config import VPUConfig  # noqa: E402
from kiln.sim import Machine  # noqa: E402
from kiln.sim.programs import conv_program, random_conv_layer  # noqa: E402


def bench(dim: int, repeat: int, trace: str | None) -> dict:
    """Run the conv layer on a ``dim`` x ``dim`` VPU; return the measured figures."""
    config = VPUConfig(dim=dim)
    layer = random_conv_layer(np.random.default_rng(0), 56, 56, 64, 64, 3, stride=1, pad=1)
    program = conv_program(config, layer)
    best = float("inf")
    for _ in range(repeat):
        machine = Machine(config, program.dram_size)
        machine.write(0, program.dram_image)
        start = time.perf_counter()
        result = machine.run(program.program_address, program.instruction_count)
        best = min(best, time.perf_counter() - start)
    exact = not program.mismatches(machine.dram)
    if trace:
        machine.run(program.program_address, program.instruction_count, trace=True)
        machine.write_trace(trace.replace(".json", f"_dim{dim}.json"))
    c = result.counters
    return {"dim": dim, "instructions": program.instruction_count, "wall_s": best,
            "sim_mmac_per_s": c["macs"] / best / 1e6, "cycles": result.cycles,
            "utilisation": result.utilisation, "modelled_ms": result.seconds * 1e3,
            "clock_mhz": config.clock_mhz, "macs": c["macs"],
            "dma_read_bytes": c["dma_read_bytes"], "dma_write_bytes": c["dma_write_bytes"],
            "stall_compute": c["stall_compute"], "bit_exact": exact}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=int, nargs="+", default=[8, 16, 32])
    parser.add_argument("--repeat", type=int, default=3, help="runs per size; best is kept")
    parser.add_argument("--trace", help="write a Perfetto trace per size (NAME_dimD.json)")
    parser.add_argument("--json", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    rows = [bench(dim, args.repeat, args.trace) for dim in args.dims]
    print("conv 3x3, 64->64 channels, 56x56, pad 1 (115.6 M MACs); one core")
    print(f"{'dim':>4} {'instrs':>7} {'wall s':>8} {'sim MMAC/s':>11} {'cycles':>10} "
          f"{'util':>7} {'model ms':>9} {'DMA rd MB':>10} {'exact':>6}")
    for r in rows:
        print(f"{r['dim']:>4} {r['instructions']:>7} {r['wall_s']:>8.3f} "
              f"{r['sim_mmac_per_s']:>11.0f} {r['cycles']:>10,} {r['utilisation']:>7.1%} "
              f"{r['modelled_ms']:>9.3f} {r['dma_read_bytes'] / 1e6:>10.2f} "
              f"{'yes' if r['bit_exact'] else 'NO':>6}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    return 0 if all(r["bit_exact"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
