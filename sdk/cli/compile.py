"""`kiln compile`: compile a quantized model for the VPU; write programs, assembly and a report."""

from __future__ import annotations

import argparse
from pathlib import Path

from kiln.errors import KilnError

COMMAND = ("compile",)
HELP = ("compile an int8 (quantized) model for the VPU: place it (HETERO with CPU fallback), "
        "write each VPU program (.kvpu) and its assembly (.s), print placement and program sizes")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="quantized model: .xml (from `kiln quantize`) or a QDQ .onnx")
    parser.add_argument("-o", "--output-dir", default=None,
                        help="folder for <model>_<subgraph>.kvpu / .s (default: <model stem>_vpu/)")
    parser.add_argument("--dim", type=int, default=None, help="systolic array size (default: VPUConfig's)")
    parser.add_argument("--input-shape", action="append", default=[], metavar="NAME:D0,D1,...",
                        help="make a dynamic input static (repeatable)")


def run(args: argparse.Namespace) -> int:
    import time

    import kiln
    from kiln.hw.config import VPUConfig

    model = kiln.convert_model(args.model)
    for spec in args.input_shape:
        name, _, dims = spec.partition(":")
        if not dims:
            raise KilnError(f"--input-shape {spec!r}: expected NAME:D0,D1,...")
        model.reshape({name: tuple(int(d) for d in dims.split(","))})
    config = VPUConfig() if args.dim is None else VPUConfig(dim=args.dim)
    out_dir = Path(args.output_dir or f"{Path(args.model).stem}_vpu")
    start = time.perf_counter()
    compiled = kiln.Core().compile_model(model, "HETERO:VPU,CPU", {"VPU_CONFIG": config})
    seconds = time.perf_counter() - start
    hetero = compiled.executable
    print(hetero.placement.report())
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = Path(args.model).stem
    for sub, executable in zip(hetero.placement.subgraphs, hetero.executables):
        if sub.device != "VPU":
            continue
        program = executable.program
        path = out_dir / f"{stem}_{sub.name}.kvpu"
        program.save(path)
        path.with_suffix(".s").write_text(program.disassemble())
        print(f"{path}: {len(program.instructions):,} instructions, {len(program.layers)} layers, "
              f"{program.macs:,} MACs, {program.dram_size:,} bytes of DRAM")
    print(f"compiled in {seconds:.2f} s for a {config.dim}x{config.dim} VPU")
    return 0
