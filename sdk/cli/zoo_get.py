"""`kiln zoo get NAME -o out.onnx|out.xml`: write a zoo model to a file."""

from __future__ import annotations

COMMAND = ("zoo", "get")
HELP = "write a zoo model as ONNX (.onnx) or OpenVINO IR (.xml + .bin)"


def add_arguments(parser) -> None:
    parser.add_argument("name", help="zoo model name (see `kiln zoo list`)")
    parser.add_argument("-o", "--output", required=True, help="output path ending in .onnx or .xml")
    parser.add_argument("--batch", type=int, help="batch size (models that take one)")


def run(args) -> int:
    from kiln import zoo

    options = {} if args.batch is None else {"batch": args.batch}
    zoo.save(args.name, args.output, **options)
    print(f"wrote {args.name} to {args.output}")
    return 0
