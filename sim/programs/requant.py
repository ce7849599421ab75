"""Post-processing of int32 accumulators: bias add, clip, requantize with ReLU to int8.

Input x [N, C] int32 (N pixels, C channels, as a GEMM leaves them). Per step of
up to ``tile`` pixels and one channel block: LOAD the int32 rows and the
parameter rows (bias, multiplier, shift) into the accumulator, VADD the bias,
VCLIP to [clip_lo, clip_hi], VREQ to int8 (ReLU fused through ``lo``), STORE.
"""

from __future__ import annotations

import numpy as np
from kiln.hw.config import VPUConfig
from kiln.hw.isa import Instruction, encode_program
from kiln.sim.programs.double_buffering import Step, double_buffered
from kiln.sim.programs.dram_layout import DramLayout
from kiln.sim.programs.example import ExampleProgram, OutputRegion
from kiln.sim.programs.reference import requantize_reference, wrap_int32


def requant_relu_program(config: VPUConfig, x: np.ndarray, bias: np.ndarray,
                         multiplier: np.ndarray, shift: np.ndarray, zero_point: int,
                         clip: tuple[int, int] = (-(1 << 31), (1 << 31) - 1),
                         name: str = "requant_relu") -> ExampleProgram:
    """Return the program computing int8 ReLU(requantize(clip(x + bias))) per channel."""
    dim = config.dim
    n, c = x.shape
    cb_count = -(-c // dim)
    tile = min(n, 4095, (config.acc_depth - 6) // 2, config.sp_depth // 2, 255)
    layout = DramLayout()
    x_addr = layout.place("x", x.astype("<i4"))
    params = np.zeros((cb_count, 3, dim), dtype="<i4")
    for row, values in enumerate((bias, multiplier, shift)):
        padded = np.zeros(cb_count * dim, dtype=np.int64)
        padded[:c] = values
        params[:, row, :] = padded.reshape(cb_count, dim)
    p_addr = layout.place("params", params)
    y_addr = layout.reserve("y", n * c)
    acc_buf, par_buf, out_buf = [0, tile], [2 * tile, 2 * tile + 3], [0, tile]
    steps = []
    for n0 in range(0, n, tile):
        rows = min(tile, n - n0)
        for cb in range(cb_count):
            b = len(steps) % 2
            lanes = min(dim, c - cb * dim) % dim
            loads = [Instruction("LOAD", mem="acc", dst=acc_buf[b],
                                 dram=x_addr + (n0 * c + cb * dim) * 4, y_size=rows, x_size=1,
                                 y_stride=c * 4, lanes=lanes),
                     Instruction("LOAD", mem="acc", dst=par_buf[b],
                                 dram=p_addr + cb * 3 * dim * 4, y_size=3, x_size=1,
                                 y_stride=dim * 4)]
            computes = [
                Instruction("VADD", src_mem="acc", dst=acc_buf[b], src=par_buf[b], count=rows,
                            dst_stride=1, src_stride=0),
                Instruction("VCLIP", dst=acc_buf[b], count=rows, dst_stride=1, lo=clip[0],
                            hi=clip[1]),
                Instruction("VREQ", src=acc_buf[b], dst=out_buf[b], param=par_buf[b] + 1,
                            count=rows, src_stride=1, dst_stride=1, zero_point=zero_point,
                            lo=zero_point, hi=127)]
            stores = [Instruction("STORE", mem="sp", src=out_buf[b],
                                  dram=y_addr + n0 * c + cb * dim, y_size=rows, x_size=1,
                                  y_stride=c, lanes=lanes)]
            steps.append(Step(loads, computes, stores))
    program = double_buffered(steps)
    image, program_address = layout.image(encode_program(program))

    def reference() -> dict[str, np.ndarray]:
        summed = wrap_int32(x.astype(np.int64) + bias.astype(np.int64))
        clipped = np.clip(summed, clip[0], clip[1])
        return {"y": requantize_reference(clipped, multiplier, shift, zero_point, zero_point,
                                          127)}

    return ExampleProgram(name, config, tuple(program), image,
                          (OutputRegion("y", y_addr, (n, c), "int8"),), reference,
                          program_address)
