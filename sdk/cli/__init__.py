"""The `kiln` command line: one entry point, one module per command.

Each module in this package that defines ``COMMAND`` (a tuple of words, e.g.
``("convert",)`` or ``("hw", "verilog")``), ``HELP``, ``add_arguments(parser)`` and
``run(args) -> int`` becomes a subcommand; adding a command never means editing this file.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from kiln.errors import KilnError


def _command_modules():
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "COMMAND"):
            yield module


def build_parser() -> argparse.ArgumentParser:
    """Return the parser with every command module's subcommand attached."""
    parser = argparse.ArgumentParser(prog="kiln", description="Kiln inference toolkit")
    groups: dict[tuple[str, ...], argparse._SubParsersAction] = {
        (): parser.add_subparsers(dest="command", metavar="COMMAND")
    }
    for module in _command_modules():
        words = tuple(module.COMMAND)
        for depth in range(1, len(words)):
            prefix = words[:depth]
            if prefix not in groups:
                group = groups[words[: depth - 1]].add_parser(prefix[-1], help=f"{prefix[-1]} commands")
                groups[prefix] = group.add_subparsers(dest=f"command_{depth}", metavar="COMMAND")
        sub = groups[words[:-1]].add_parser(words[-1], help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        sub.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "_run"):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except KilnError as error:
        print(f"kiln: error: {error}", file=sys.stderr)
        return 1
    except FileNotFoundError as error:
        print(f"kiln: error: {error}", file=sys.stderr)
        return 1
