"""Compile the light ResNet-50 for the VPU and report compile time and modelled MAC utilisation.

    .venv/bin/python benchmarks/vpu_resnet50.py [--dim 16] [--run] [--trace out.json]

Quantizes the model (one calibration image), compiles it for HETERO:VPU,CPU, and with
``--run`` runs one inference on the ISA simulator with per-layer profiling: the total
and per-layer cycles, and the MAC utilisation of the convolutions (MACs / (cycles x dim^2)).
"""

from __future__ import annotations

import argparse
import os
import time

import kiln
import numpy as np
import onnx.backend.test
from kiln.hw.config import VPUConfig

MODEL = os.path.join(os.path.dirname(onnx.backend.test.__file__), "data", "light", "light_resnet50.onnx")


def _conv_macs(node) -> int:
    """Multiply-accumulates of one convolution as the model defines it (no padded channels)."""
    weights = node.inputs[1].shape
    return int(np.prod(node.output(0).shape)) * int(np.prod(weights[1:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=16)
    parser.add_argument("--run", action="store_true", help="simulate one inference (about a minute)")
    parser.add_argument("--layers", action="store_true", help="print the per-layer table")
    parser.add_argument("--trace", help="write the VPU timeline (Perfetto JSON) here")
    args = parser.parse_args()
    model = kiln.convert_model(MODEL)
    name = model.input_names[0]
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    quantized = kiln.quantize(model, [{name: x}], progress=False)
    config = VPUConfig(dim=args.dim)
    properties = {"VPU_CONFIG": config, "PERF_COUNT": True}
    if args.trace:
        properties["VPU_TRACE_PATH"] = args.trace
    core = kiln.Core()
    start = time.perf_counter()
    compiled = core.compile_model(quantized, "HETERO:VPU,CPU", properties)
    seconds = time.perf_counter() - start
    hetero = compiled.executable
    programs = [e.program for s, e in zip(hetero.placement.subgraphs, hetero.executables)
                if s.device == "VPU"]
    convs = hetero.placement.count("VPU", ("Convolution",))
    print(f"compile (HETERO:VPU,CPU, {config.dim}x{config.dim}): {seconds:.2f} s; "
          f"{convs} convolutions on the VPU; {sum(len(p.instructions) for p in programs):,} instructions")
    if not args.run:
        return
    start = time.perf_counter()
    out = compiled({name: x})[0]
    wall = time.perf_counter() - start
    reference = core.compile_model(quantized, "CPU")({name: x})[0]
    rows = [r for part in hetero.profiling_info() if part["device"] == "VPU" for r in part["detail"]]
    conv = [r for r in rows if r["node_type"] == "conv"]
    conv_cycles = sum(r["cycles"] for r in conv)
    conv_macs = sum(r["macs"] for r in conv)
    total = sum(r["cycles"] for r in rows)
    print(f"simulated in {wall:.1f} s: {total:,} cycles ({total / config.clock_mhz / 1e3:.2f} ms at "
          f"{config.clock_mhz:g} MHz); int8 output vs CPU fake-quant max |diff| "
          f"{float(np.abs(out - reference).max()):.2e}")
    useful = sum(_conv_macs(n) for n in quantized.ordered_nodes() if n.type_name == "Convolution")
    print(f"convolutions: {conv_macs:,} array MACs in {conv_cycles:,} cycles: "
          f"MAC utilisation {conv_macs / (conv_cycles * config.dim ** 2):.1%} "
          f"(counting only the model's own {useful:,} MACs, not zero-padded lanes: "
          f"{useful / (conv_cycles * config.dim ** 2):.1%})")
    if args.layers:
        for r in rows:
            print(f"  {r['node_name'][:24]:24s} {r['node_type']:8s} {r['cycles']:>10,d} "
                  f"{r['utilisation']:6.1%}")


if __name__ == "__main__":
    main()
