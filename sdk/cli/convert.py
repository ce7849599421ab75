"""`kiln convert`: ONNX (or IR) in, optimized OpenVINO IR v11 (.xml + .bin) out."""

from __future__ import annotations

import argparse
import collections
import sys
import time
from pathlib import Path

from kiln.errors import KilnError

COMMAND = ("convert",)
HELP = "convert an ONNX model (or IR .xml) to OpenVINO IR v11 (.xml + .bin), optimized by default"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="input model: .onnx, or .xml (with its .bin beside it)")
    parser.add_argument("-o", "--output", help="output .xml path (default: <model stem>.xml here)")
    parser.add_argument("--no-optimize", action="store_true", help="write the graph as converted, no passes")
    parser.add_argument("--input-shape", action="append", default=[], metavar="[NAME:]DIMS",
                        help="set an input's shape, e.g. x:1,3,224,224 (? or -1 keeps a dim dynamic); "
                             "repeat for several inputs; NAME may be left out for a one-input model")
    parser.add_argument("--compress-to-fp16", action="store_true",
                        help="store f32 weights as f16 (decompressed by Convert), halving the .bin")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")


def parse_input_shape(text: str) -> tuple[str | int, tuple[int | None, ...]]:
    """Return (input name, or 0 for "the only input", shape) from ``NAME:1,3,224,224``."""
    name, _, dims = text.rpartition(":")
    dims = dims.strip().strip("[]()")
    shape = []
    for part in dims.split(",") if dims else []:
        part = part.strip()
        if part in ("?", "-1"):
            shape.append(None)
            continue
        try:
            dim = int(part)
        except ValueError:
            raise KilnError(f"--input-shape {text!r}: {part!r} is not a dimension "
                            "(use an integer, ? or -1)") from None
        if dim < 0:
            raise KilnError(f"--input-shape {text!r}: negative dimension {dim}")
        shape.append(dim)
    return (name if name else 0), tuple(shape)


def run(args: argparse.Namespace) -> int:
    import kiln
    from kiln.passes import DEFAULT_PASSES
    from kiln.serialize import save_ir

    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, file=sys.stderr))
    source = Path(args.model)
    output = Path(args.output) if args.output else Path(source.stem + ".xml")
    if output.suffix.lower() != ".xml":
        raise KilnError(f"-o {output}: the output must be an .xml path (its .bin is written beside it)")
    start = time.perf_counter()
    model = kiln.read_model(source)
    say(f"read {source}: {_summary(model)}")
    if args.input_shape:
        shapes = dict(parse_input_shape(text) for text in args.input_shape)
        model.reshape(shapes)
        shapes = ", ".join(f"{p.name}{list(p.attrs['shape'])}" for p in model.parameters)
        say(f"reshaped inputs: {shapes}")
    if not args.no_optimize:
        model = model.clone()
        from tqdm import tqdm

        rows = []
        with tqdm(DEFAULT_PASSES, desc="optimize", unit="pass", disable=args.quiet, file=sys.stderr) as bar:
            for step in bar:
                bar.set_postfix_str(step.__name__)
                before, began = _node_count(model), time.perf_counter()
                model = step(model)
                rows.append((step.__name__, before, _node_count(model), time.perf_counter() - began))
        for name, before, after, seconds in rows:
            say(f"  {name:<22} {before:>6} -> {after:<6} nodes  {seconds * 1e3:8.1f} ms")
        say(f"optimized: {_summary(model)}")
    output.parent.mkdir(parents=True, exist_ok=True)
    save_ir(model, output, compress_to_fp16=args.compress_to_fp16)
    weights = output.with_suffix(".bin")
    say(f"wrote {output} ({output.stat().st_size} B) and {weights} ({weights.stat().st_size} B) "
        f"in {time.perf_counter() - start:.2f} s")
    return 0


def _node_count(model) -> int:
    """Return the number of nodes other than Parameters and Results."""
    return sum(n.type_name not in ("Parameter", "Result") for n in model.ordered_nodes())


def _summary(model) -> str:
    counts = collections.Counter(n.type_name for n in model.ordered_nodes()
                                 if n.type_name not in ("Parameter", "Result"))
    ops = ", ".join(f"{kind} x{count}" for kind, count in counts.most_common(8))
    more = f", ... ({len(counts) - 8} more op types)" if len(counts) > 8 else ""
    return f"{sum(counts.values())} nodes ({ops}{more})"
