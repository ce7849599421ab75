"""Max and average pooling of an int8 [H, W, C] tensor with square windows, no padding.

Per channel block: LOAD the whole image (pixel (y, x) to row ``y * W + x``), then
one VPOOL per output row: max pooling writes int8 rows directly (saturation
never triggers for a max of int8); average pooling sums into the accumulator
and one VREQ divides by the window size as a multiply-shift
(multiplier ``round(2**shift / window**2)``, round half up), then STORE.
"""

from __future__ import annotations

import numpy as np
from kiln.hw.config import VPUConfig
from kiln.hw.isa import Instruction, encode_program
from kiln.sim.programs.double_buffering import Step, double_buffered
from kiln.sim.programs.dram_layout import DramLayout
from kiln.sim.programs.example import ExampleProgram, OutputRegion
from kiln.sim.programs.reference import pool_reference, requantize_reference

AVERAGE_SHIFT = 16


def average_multiplier(window: int, shift: int = AVERAGE_SHIFT) -> int:
    """Return round(2**shift / window**2), the multiplier that divides by the window area."""
    return ((1 << shift) + window * window // 2) // (window * window)


def pool_program(config: VPUConfig, x: np.ndarray, window: int, stride: int, mode: str,
                 name: str | None = None) -> ExampleProgram:
    """Return the program for max (``mode="max"``) or average (``"avg"``) pooling of ``x``."""
    if mode not in ("max", "avg"):
        raise ValueError(f"mode must be 'max' or 'avg', got {mode!r}")
    dim = config.dim
    h, w, c = x.shape
    oh, ow = (h - window) // stride + 1, (w - window) // stride + 1
    cb_count = -(-c // dim)
    if 2 * (h * w + oh * ow) > config.sp_depth or 2 * (oh * ow + 2) > config.acc_depth:
        raise ValueError("image too large for this whole-image pooling program")
    if h > 255 or w > 255:
        raise ValueError("H and W must be at most 255")
    layout = DramLayout()
    x_addr = layout.place("x", x.astype(np.int8))
    mult = average_multiplier(window)
    params = np.array([[mult] * dim, [AVERAGE_SHIFT] * dim], dtype="<i4")
    p_addr = layout.place("params", params)
    y_addr = layout.reserve("y", oh * ow * c)
    in_buf = [0, h * w]
    out_buf = [2 * h * w, 2 * h * w + oh * ow]
    acc_buf, par_buf = [0, oh * ow], [2 * oh * ow, 2 * oh * ow + 2]
    steps = []
    for cb in range(cb_count):
        b = cb % 2
        lanes = min(dim, c - cb * dim) % dim
        loads = [Instruction("LOAD", mem="sp", dst=in_buf[b], dram=x_addr + cb * dim, y_size=h,
                             x_size=w, y_stride=w * c, x_stride=c, lanes=lanes)]
        if mode == "avg":
            loads.append(Instruction("LOAD", mem="acc", dst=par_buf[b], dram=p_addr, y_size=2,
                                     x_size=1, y_stride=dim * 4))
        computes = []
        for oy in range(oh):
            dst_mem, dst = ("sp", out_buf[b]) if mode == "max" else ("acc", acc_buf[b])
            computes.append(Instruction(
                "VPOOL", mode="max" if mode == "max" else "sum", src_mem="sp", dst_mem=dst_mem,
                dst=dst + oy * ow, src=in_buf[b] + oy * stride * w, count=ow, dst_stride=1,
                src_stride=stride, win_h=window, win_w=window, win_stride_h=w,
                win_stride_w=1))
        if mode == "avg":
            computes.append(Instruction("VREQ", src=acc_buf[b], dst=out_buf[b],
                                        param=par_buf[b], count=oh * ow, src_stride=1,
                                        dst_stride=1))
        stores = [Instruction("STORE", mem="sp", src=out_buf[b], dram=y_addr + cb * dim,
                              y_size=oh, x_size=ow, y_stride=ow * c, x_stride=c, lanes=lanes)]
        steps.append(Step(loads, computes, stores))
    program = double_buffered(steps)
    image, program_address = layout.image(encode_program(program))

    def reference() -> dict[str, np.ndarray]:
        pooled = pool_reference(x, window, stride, "max" if mode == "max" else "sum")
        if mode == "max":
            return {"y": pooled.astype(np.int8)}
        return {"y": requantize_reference(pooled, np.full(c, mult), np.full(c, AVERAGE_SHIFT),
                                          0, -128, 127)}

    return ExampleProgram(name or f"{mode}pool{window}x{window}s{stride}", config,
                          tuple(program), image, (OutputRegion("y", y_addr, (oh, ow, c), "int8"),),
                          reference, program_address)
