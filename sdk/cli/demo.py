"""`kiln demo`: Kiln's main job end to end on the embedded digits CNN.

Convert the ONNX model, optimize it, save OpenVINO IR, quantize it to int8 on
calibration images, compile it for HETERO:VPU,CPU, run the held-out digits on
fp32 CPU and on the int8 VPU (the bit-exact ISA simulator), and show the VPU's
per-layer cycles plus a Perfetto timeline.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

COMMAND = ("demo",)
HELP = "run Kiln's main job on the embedded digits CNN: convert, quantize, compile for the VPU, compare"

BATCH = 120


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="out/demo", help="folder for the IR files and the trace (out/demo)")
    parser.add_argument("--dim", type=int, default=8, help="VPU systolic array size (default 8)")
    parser.add_argument("--transport", default="isa-sim", choices=["isa-sim", "rtl"],
                        help="where the VPU program runs: ISA simulator or the RTL under Verilator")


def _section(title: str) -> None:
    print(f"\n== {title} " + "=" * max(0, 70 - len(title)))


def run(args: argparse.Namespace) -> int:
    import kiln
    from kiln.hw.config import VPUConfig
    from kiln.quantization import report
    from sklearn.datasets import load_digits

    data_dir = Path(kiln.__file__).parent / "zoo" / "data"
    meta = json.loads((data_dir / "digits_cnn.json").read_text())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    digits = load_digits()
    images = (digits.images[:, None] * meta["preprocessing"]["input_scale"]).astype(np.float32)
    test = np.array(meta["test_indices"])
    train = np.setdiff1d(np.arange(len(images)), test)
    core = kiln.Core()

    _section("convert + optimize")
    model = kiln.convert_model(data_dir / "digits_cnn.onnx").reshape({"input": (BATCH, 1, 8, 8)})
    optimized = kiln.optimize(model)
    kiln.save_model(optimized, out / "digits_cnn.xml")
    print(f"{model}\nsaved OpenVINO IR: {out / 'digits_cnn.xml'} (+ .bin)")

    _section("quantize to int8")
    calibration = [{"input": images[train[i:i + BATCH]]} for i in range(0, 4 * BATCH, BATCH)]
    quantized = kiln.quantize(optimized, calibration)
    kiln.save_model(quantized, out / "digits_cnn_int8.xml")
    print(report(optimized, quantized, calibration[:1], progress=False).table())

    _section("compile for HETERO:VPU,CPU")
    config = VPUConfig(dim=args.dim)
    properties = {"VPU_CONFIG": config, "VPU_TRANSPORT": args.transport, "PERF_COUNT": True,
                  "VPU_TRACE_PATH": str(out / "vpu_trace.json")}
    start = time.perf_counter()
    int8 = core.compile_model(quantized, "HETERO:VPU,CPU", properties)
    print(int8.executable.placement.report())
    print(f"compiled in {time.perf_counter() - start:.2f} s for a {config.dim}x{config.dim} VPU")
    fp32 = core.compile_model(model, "CPU")

    _section(f"held-out accuracy ({len(test)} digits)")
    right_fp32 = right_int8 = 0
    for begin in range(0, len(test), BATCH):
        idx = test[begin:begin + BATCH]
        right_fp32 += int((fp32({"input": images[idx]})[0].argmax(1) == digits.target[idx]).sum())
        right_int8 += int((int8({"input": images[idx]})[0].argmax(1) == digits.target[idx]).sum())
    print(f"fp32 on CPU        top-1 {right_fp32 / len(test):.2%}")
    print(f"int8 on VPU (+CPU) top-1 {right_int8 / len(test):.2%}")

    _section(f"VPU profile of the last batch of {BATCH} ({args.transport})")
    print(f"{'layer':28s} {'kind':8s} {'cycles':>10s} {'MACs':>12s} {'util':>6s} {'DMA bytes':>10s}")
    total_cycles = total_macs = 0
    for part in int8.executable.profiling_info():
        for row in part.get("detail", []):
            if row.get("device") != "VPU":
                continue
            total_cycles += row["cycles"]
            total_macs += row["macs"]
            print(f"{row['node_name'][:28]:28s} {row['node_type']:8s} {row['cycles']:10,d} "
                  f"{row['macs']:12,d} {row['utilisation']:6.1%} {row['dma_bytes']:10,d}")
    if total_cycles:
        util = total_macs / (total_cycles * config.dim ** 2)
        micros = total_cycles / config.clock_mhz
        print(f"{'total':28s} {'':8s} {total_cycles:10,d} {total_macs:12,d} {util:6.1%}"
              f"   ({micros:,.0f} us at {config.clock_mhz:g} MHz)")
    for trace in sorted(out.glob("vpu_trace.*.json")):
        print(f"VPU timeline: {trace} (open it in https://ui.perfetto.dev)")
    return 0
