"""`kiln zoo list` and `kiln zoo get NAME -o out.onnx|out.xml`: the no-download model zoo."""

from __future__ import annotations

COMMAND = ("zoo", "list")
HELP = "list the zoo's models (built in code, no download)"


def add_arguments(parser) -> None:
    parser.add_argument("--all", action="store_true",
                        help="also list models whose optional package is missing")


def run(args) -> int:
    from kiln import zoo

    for entry in zoo.entries():
        available = entry.available()
        if not available and not args.all:
            continue
        mark = "" if available else "  (not installed)"
        kind = "pretrained" if entry.pretrained else "seeded"
        print(f"{entry.name:20s} {kind:10s} {entry.description}{mark}")
    return 0
