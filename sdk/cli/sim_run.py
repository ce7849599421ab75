"""`kiln sim run`: run a VPU assembler program (or a built-in example) on the ISA simulator.

    kiln sim run prog.s --load 0x1000=input.bin --dump 0x2000:256:int32 --trace run.json
    kiln sim run --example conv3x3_relu --dim 16 --trace conv.json
    kiln sim run --list-examples
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from kiln.errors import DeviceError, ModelFormatError
from kiln.hw.config import ConfigError, VPUConfig
from kiln.hw.isa import IsaError, assemble, encode_program
from kiln.sim import Machine, SimulationError
from kiln.sim.programs import example_programs

COMMAND = ("sim", "run")
HELP = "run a VPU program (assembler text) or a built-in example on the ISA simulator"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Attach the command's options."""
    parser.add_argument("program", nargs="?", help="assembler file (.s): one instruction a line")
    parser.add_argument("--example", help="run a built-in example program instead")
    parser.add_argument("--list-examples", action="store_true", help="list built-in examples")
    parser.add_argument("--dim", type=int, default=8, help="array size (default 8)")
    parser.add_argument("--dram-size", type=lambda v: int(v, 0), default=16 << 20,
                        help="DRAM bytes (default 16 MiB)")
    parser.add_argument("--program-address", type=lambda v: int(v, 0), default=0,
                        help="DRAM address the program is written to (default 0)")
    parser.add_argument("--load", action="append", default=[], metavar="ADDR=FILE",
                        help="write a file's bytes (.npy: its array's raw bytes) to DRAM")
    parser.add_argument("--dump", action="append", default=[], metavar="ADDR:SIZE[:DTYPE]",
                        help="print DRAM bytes after the run (dtype int8/uint8/int32)")
    parser.add_argument("--max-cycles", type=int, default=10**9)
    parser.add_argument("--trace", help="write the timeline as Perfetto trace-event JSON")


def _load(machine: Machine, spec: str) -> None:
    address, _, path = spec.partition("=")
    file = Path(path)
    data = np.load(file) if file.suffix == ".npy" else file.read_bytes()
    machine.write(int(address, 0), data)


def _dump(machine: Machine, spec: str) -> None:
    parts = spec.split(":")
    address, size = int(parts[0], 0), int(parts[1], 0)
    dtype = np.dtype(parts[2] if len(parts) > 2 else "uint8").newbyteorder("<")
    values = machine.read(address, size).view(dtype)
    print(f"0x{address:x} ({size} bytes, {dtype.name}):")
    print(np.array2string(values, max_line_width=100, threshold=4096))


def run(args: argparse.Namespace) -> int:
    """Run the program; print counters (and dumps); return 0 on FINISH."""
    try:
        config = VPUConfig(dim=args.dim)
    except ConfigError as error:
        raise DeviceError(str(error)) from error
    if args.list_examples:
        for p in example_programs(config):
            print(f"{p.name:<18} {p.instruction_count:>4} instructions")
        return 0
    if args.example:
        examples = {p.name: p for p in example_programs(config)}
        if args.example not in examples:
            raise DeviceError(f"no example '{args.example}' (have: {', '.join(examples)})")
        program = examples[args.example]
        machine = Machine(config, max(args.dram_size, program.dram_size))
        machine.write(0, program.dram_image)
        address, count = program.program_address, program.instruction_count
    elif args.program:
        path = Path(args.program)
        try:
            instructions = assemble(path.read_text())
        except IsaError as error:
            raise ModelFormatError(f"{path}: {error}") from error
        machine = Machine(config, args.dram_size)
        image = encode_program(instructions)
        machine.write(args.program_address, image)
        address, count = args.program_address, len(instructions)
        program = None
    else:
        raise DeviceError("give an assembler file, --example NAME or --list-examples")
    try:
        for spec in args.load:
            _load(machine, spec)
        result = machine.run(address, count, args.max_cycles, trace=bool(args.trace),
                             progress=sys.stderr.isatty())
    except (SimulationError, ValueError) as error:
        raise DeviceError(f"VPU simulation: {error}") from error
    print(result.summary())
    if program is not None:
        problems = program.mismatches(machine.dram)
        print("outputs match the numpy reference" if not problems else "\n".join(problems))
    for spec in args.dump:
        _dump(machine, spec)
    if args.trace:
        print(f"trace written to {machine.write_trace(args.trace)} (open in ui.perfetto.dev)")
    return 0 if program is None or not problems else 1
