"""`kiln hw verilog`: write the VPU as Verilog, optionally linted by Verilator."""

from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
from collections import Counter
from pathlib import Path

from kiln.errors import DeviceError
from kiln.hw.config import ConfigError, VPUConfig

COMMAND = ("hw", "verilog")
HELP = "write the VPU (Amaranth HDL) as Verilog for a VPUConfig"


def add_config_arguments(parser) -> None:
    """Add one ``--<field>`` option per VPUConfig field (defaults from VPUConfig)."""
    for f in dataclasses.fields(VPUConfig):
        if isinstance(f.default, bool):
            parser.add_argument(f"--{f.name.replace('_', '-')}", dest=f"config_{f.name}",
                                action=argparse.BooleanOptionalAction, default=f.default,
                                help=f"VPUConfig.{f.name} (default {f.default})")
            continue
        parser.add_argument(f"--{f.name.replace('_', '-')}", dest=f"config_{f.name}",
                            type=type(f.default), default=f.default,
                            help=f"VPUConfig.{f.name} (default {f.default})")


def config_from_arguments(args) -> VPUConfig:
    """Return the VPUConfig the ``--<field>`` options describe; errors name the field."""
    values = {f.name: getattr(args, f"config_{f.name}") for f in dataclasses.fields(VPUConfig)}
    try:
        return VPUConfig(**values)
    except ConfigError as error:
        raise DeviceError(str(error)) from None


def add_arguments(parser) -> None:
    parser.add_argument("-o", "--output", type=Path, default=Path("vpu.v"),
                        help="Verilog file to write (default vpu.v)")
    parser.add_argument("--top", default="vpu", help="top module name (default vpu)")
    parser.add_argument("--lint", action="store_true",
                        help="run `verilator --lint-only` on the result")
    add_config_arguments(parser)


def run(args) -> int:
    from kiln.hw.rtl.vpu import VPU
    from kiln.hw.verilog import component_verilog

    config = config_from_arguments(args)
    verilog = component_verilog(VPU(config), args.top)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(verilog)
    print(f"wrote {args.output} ({len(verilog.splitlines()):,} lines): VPU dim={config.dim}, "
          f"sp {config.sp_depth} rows, acc {config.acc_depth} rows, "
          f"DRAM bus {config.dram_bus_bytes} bytes")
    if args.lint:
        from kiln.sim.cocotb.runner import verilator_environment

        env = {**os.environ, **verilator_environment()}
        done = subprocess.run(["verilator", "--lint-only", "-Wno-fatal",
                               "--top-module", args.top, str(args.output)],
                              env=env, capture_output=True, text=True)
        errors = [line for line in done.stderr.splitlines() if line.startswith("%Error")]
        warnings = [line for line in done.stderr.splitlines() if line.startswith("%Warning")]
        if done.returncode or errors:
            print("\n".join(errors[:20]))
            raise DeviceError(f"Verilator lint of {args.output} failed with "
                              f"{len(errors)} errors")
        kinds = Counter(line.split(":", 1)[0].removeprefix("%Warning-") for line in warnings)
        summary = ", ".join(f"{count} {kind}" for kind, count in kinds.most_common()) or "none"
        print(f"verilator --lint-only: 0 errors; warnings: {summary} "
              "(width warnings come from Amaranth's implicit zero extension)")
    return 0
