"""`kiln hw bitstream`: build the VPU with a UART host link into an FPGA bitstream."""

from __future__ import annotations

import argparse
import dataclasses

COMMAND = ("hw", "bitstream")
HELP = ("build the VPU and its UART host link for a board: bitstream, synthesis and "
        "place-and-route logs, resource and fmax summary")


def add_arguments(parser) -> None:
    """Attach the command's options to ``parser``."""
    from kiln.hw.fpga.boards import BOARDS

    parser.add_argument("--board", required=True, choices=sorted(BOARDS),
                        help="; ".join(f"{b.name}: {b.description}" for b in BOARDS.values()))
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--dim", type=int, help="systolic array size (default: the board's)")
    parser.add_argument("--sp-depth", type=int, help="scratchpad rows (default: the board's)")
    parser.add_argument("--acc-depth", type=int, help="accumulator rows (default: the board's)")
    parser.add_argument("--dram-bus-bytes", type=int, help="DRAM beat width in bytes")
    parser.add_argument("--dram-kib", type=int, help="on-chip DRAM size in KiB")
    parser.add_argument("--compact", action=argparse.BooleanOptionalAction, default=None,
                        help="build the RTL's small variants (VPUConfig.compact; default: the "
                        "board's, on for icebreaker)")
    parser.add_argument("--baud", type=int, help="host-link UART speed in bit/s")
    parser.add_argument("--clock-mhz", type=float,
                        help="run the VPU from a PLL at this frequency (ECP5 boards; default: "
                        "the board's clock)")
    parser.add_argument("--lut-mapping", choices=("auto", "abc9", "abc"), default="auto",
                        help="ECP5 LUT mapping: abc9 (timing-driven) or classic abc; auto "
                        "uses classic abc from dim 8, where Yosys 0.70's abc9 crashes")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args) -> int:
    """Build the bitstream, print the summary table; return 0, or 3 when timing fails."""
    from kiln.errors import DeviceError
    from kiln.hw.config import ConfigError
    from kiln.hw.fpga.boards import board
    from kiln.hw.fpga.errors import FpgaFlowError
    from kiln.hw.fpga.flow import build_bitstream

    try:
        target = board(args.board)
        overrides = {name: value for name, value in (
            ("dim", args.dim), ("sp_depth", args.sp_depth), ("acc_depth", args.acc_depth),
            ("dram_bus_bytes", args.dram_bus_bytes), ("compact", args.compact))
            if value is not None}
        config = dataclasses.replace(target.config, **overrides)
        dram_bytes = args.dram_kib * 1024 if args.dram_kib else None
        report = build_bitstream(target, config, args.out, dram_bytes=dram_bytes,
                                 baud=args.baud, clock_mhz=args.clock_mhz,
                                 lut_mapping=args.lut_mapping, progress=not args.no_progress)
    except (FpgaFlowError, ConfigError) as error:
        raise DeviceError(f"hw bitstream: {error}") from error
    print(report.table())
    print(f"written to {args.out}: summary.md, summary.json, kiln_vpu.rpt (synthesis log), "
          "kiln_vpu.tim (place-and-route log), kiln_vpu.report.json")
    if not all(clock.meets for clock in report.clocks):
        print("kiln: warning: timing not met on at least one clock")
        return 3
    return 0
