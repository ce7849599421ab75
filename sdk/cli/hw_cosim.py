"""`kiln hw cosim`: run a program on the RTL VPU and the ISA simulator, compare every byte."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from kiln.cli.hw_verilog import add_config_arguments, config_from_arguments
from kiln.errors import DeviceError

COMMAND = ("hw", "cosim")
HELP = ("co-simulate a program on the RTL VPU (Verilator) and the ISA simulator: "
        "outputs bit-exact, RTL cycles vs the timing model")


def add_arguments(parser) -> None:
    parser.add_argument("program", type=Path,
                        help="assembler text (.s/.asm) or a binary encoding (16 bytes each)")
    parser.add_argument("--dram", type=Path, help="raw DRAM image loaded at address 0")
    parser.add_argument("--dram-size", type=int, default=1 << 20,
                        help="DRAM bytes when larger than the image (default 1 MiB)")
    parser.add_argument("--program-address", type=lambda text: int(text, 0), default=None,
                        help="where the program is placed (default: after the DRAM image, "
                             "16-byte aligned)")
    parser.add_argument("--max-cycles", type=int, default=5_000_000,
                        help="watchdog: stop a run after this many cycles")
    parser.add_argument("--waveform", type=Path, help="dump the RTL's waveform (.vcd or .fst)")
    parser.add_argument("--ready-probability", type=float, default=1.0,
                        help="DRAM back-pressure: chance a request is taken each cycle")
    parser.add_argument("--dram-out", type=Path, help="write the DRAM after the RTL run here")
    parser.add_argument("--simulator", choices=("verilator", "icarus"), default="verilator",
                        help="HDL simulator (icarus needs iverilog installed)")
    add_config_arguments(parser)


def _read_program(path: Path):
    from kiln.hw import isa

    if path.suffix in (".s", ".asm", ".txt"):
        try:
            return isa.assemble(path.read_text())
        except isa.IsaError as error:
            raise DeviceError(f"{path}: {error}") from None
    try:
        return isa.decode_program(path.read_bytes())
    except isa.IsaError as error:
        raise DeviceError(f"{path}: {error}") from None


def run(args) -> int:
    from kiln.hw import isa
    from kiln.sim.cocotb.cosim import cosimulate
    from kiln.sim.cocotb.errors import RtlSimulationError

    config = config_from_arguments(args)
    instructions = _read_program(args.program)
    image = np.fromfile(args.dram, dtype=np.uint8) if args.dram else np.zeros(0, np.uint8)
    code_bytes = len(instructions) * isa.INSTRUCTION_BYTES
    address = args.program_address
    if address is None:
        address = -(-image.size // 16) * 16
    dram = np.zeros(max(args.dram_size, image.size, address + code_bytes), dtype=np.uint8)
    dram[:image.size] = image
    print(f"co-simulating {len(instructions)} instructions at 0x{address:x} on VPU "
          f"dim={config.dim} (first run compiles the RTL with Verilator: a minute or more)")
    try:
        result = cosimulate(instructions, dram, config, program_address=address,
                            max_cycles=args.max_cycles, waveform=args.waveform,
                            ready_probability=args.ready_probability,
                            simulator=args.simulator)
    except RtlSimulationError as error:
        raise DeviceError(str(error)) from None
    except Exception as error:  # the ISA simulator's own errors name the instruction
        if type(error).__module__.startswith("kiln.sim"):
            raise DeviceError(f"ISA simulator: {error}") from None
        raise
    print(result.summary())
    counters = result.rtl.counters
    print(f"RTL counters: macs {counters['macs']:,}, DMA read {counters['dma_read_bytes']:,} B,"
          f" write {counters['dma_write_bytes']:,} B, retired {counters['retired']}")
    if args.waveform:
        print(f"waveform: {args.waveform}")
    if args.dram_out:
        result.rtl.dram.tofile(args.dram_out)
        print(f"DRAM after the run: {args.dram_out}")
    return 0
