"""`kiln quantize`: post-training int8 quantization of a model into OpenVINO IR (.xml + .bin)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from kiln.errors import KilnError

COMMAND = ("quantize",)
HELP = "quantize a model to int8 (FakeQuantize IR) with calibration data; optionally print per-layer SQNR"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="input model: .onnx, or .xml (with its .bin beside it)")
    parser.add_argument("--calibration", required=True, metavar="FILE",
                        help=".npz with one array per input name (or one .npy for a one-input model); "
                             "axis 0 indexes samples: an array of the input's rank gives batch-1 samples "
                             "arr[i:i+1], one of rank+1 gives samples arr[i]")
    parser.add_argument("-o", "--output", help="output .xml path (default: <model stem>_int8.xml here)")
    parser.add_argument("--method", default="minmax", choices=["minmax", "percentile", "entropy"],
                        help="activation range estimator (default: minmax)")
    parser.add_argument("--percentile", type=float, default=99.99,
                        help="percentile of |x| for --method percentile (default: 99.99)")
    parser.add_argument("--samples", type=int, default=300,
                        help="use at most this many samples (default 300)")
    parser.add_argument("--ignore-name", action="append", default=[], metavar="NODE",
                        help="keep this node in float (repeatable)")
    parser.add_argument("--ignore-type", action="append", default=[], metavar="OP",
                        help="keep every node of this op type in float, e.g. MatMul (repeatable)")
    parser.add_argument("--ignore-pattern", action="append", default=[], metavar="REGEX",
                        help="keep nodes whose name fully matches REGEX in float (repeatable)")
    parser.add_argument("--no-optimize", action="store_true", help="quantize the graph as read, no passes")
    parser.add_argument("--report", action="store_true",
                        help="print the per-layer SQNR table (quantized vs float) on the calibration data")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors and the report")


def load_calibration(path: Path, model) -> list[dict[str, np.ndarray]]:
    """Return calibration samples (dicts by input name) from an .npz or .npy file."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise KilnError(f"--calibration {path}: not a numpy .npy/.npz file: {error}") from None
    if isinstance(loaded, np.ndarray):
        if len(model.parameters) != 1:
            raise KilnError(f"--calibration {path}: a .npy holds one array but the model has inputs "
                            f"{model.input_names}; use an .npz keyed by input name")
        arrays = {model.parameters[0].name: loaded}
    else:
        arrays = {key: loaded[key] for key in loaded.files}
        if list(arrays) == ["arr_0"] and len(model.parameters) == 1:
            arrays = {model.parameters[0].name: arrays["arr_0"]}
    missing = [n for n in model.input_names if n not in arrays]
    if missing:
        raise KilnError(f"--calibration {path}: no array for input(s) {missing} (has {sorted(arrays)})")
    per_input = {}
    for param in model.parameters:
        arr = arrays[param.name]
        shape = param.attrs["shape"]
        rank = None if shape is None else len(shape)
        if rank is not None and arr.ndim == rank + 1:
            per_input[param.name] = [arr[i] for i in range(arr.shape[0])]
        elif rank is None or arr.ndim == rank:
            per_input[param.name] = [arr[i:i + 1] for i in range(arr.shape[0])]
        else:
            raise KilnError(f"--calibration {path}: array {param.name!r} has shape {list(arr.shape)}; input "
                            f"{param.name!r} has rank {rank}, so the array needs rank {rank} or {rank + 1}")
    counts = {name: len(v) for name, v in per_input.items()}
    if len(set(counts.values())) > 1:
        raise KilnError(f"--calibration {path}: inputs have different sample counts {counts}")
    count = next(iter(counts.values()), 0)
    return [{name: values[i] for name, values in per_input.items()} for i in range(count)]


def run(args: argparse.Namespace) -> int:
    import kiln
    from kiln.quantization import quantize, report

    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, file=sys.stderr))
    source = Path(args.model)
    output = Path(args.output) if args.output else Path(source.stem + "_int8.xml")
    if output.suffix.lower() != ".xml":
        raise KilnError(f"-o {output}: the output must be an .xml path (its .bin is written beside it)")
    model = kiln.read_model(source)
    data = load_calibration(Path(args.calibration), model)
    start = time.perf_counter()
    quantized = quantize(model, data, method=args.method, percentile=args.percentile,
                         subset_size=args.samples, ignored_names=args.ignore_name,
                         ignored_types=args.ignore_type, ignored_patterns=args.ignore_pattern,
                         optimize=not args.no_optimize, progress=not args.quiet)
    seconds = time.perf_counter() - start
    output.parent.mkdir(parents=True, exist_ok=True)
    kiln.save_model(quantized, output)
    fq = sum(n.type_name == "FakeQuantize" for n in quantized.ordered_nodes())
    say(f"quantized {source} -> {output} ({fq} FakeQuantize, {min(len(data), args.samples)} samples, "
        f"{args.method}, {seconds:.2f} s)")
    if args.report:
        reference = model if args.no_optimize else kiln.optimize(model)
        print(report(reference, quantized, data[:args.samples], progress=not args.quiet).table())
    return 0
