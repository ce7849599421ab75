"""Tiled int8 matrix multiply ``C = A @ B`` with int32 results, double buffered.

A [M, K] int8 is row-major in DRAM as a user holds it; B [K, N] is rearranged by
the host into weight tiles (for each column block nb, the K-blocks' dim x dim
tiles one after another, row c of a tile = input channel, column j = output).
Each step computes ``tile_m`` rows of C for one column block: LOADs bring the
A rows (one LOAD per K-block, ``lanes`` covering a partial last block) and the
tiles; one GEMM loops over the K-blocks; a STORE writes the int32 rows.
"""

from __future__ import annotations

import numpy as np
from kiln.hw.config import VPUConfig
from kiln.hw.isa import Instruction, encode_program
from kiln.sim.programs.double_buffering import Step, double_buffered
from kiln.sim.programs.dram_layout import DramLayout
from kiln.sim.programs.example import ExampleProgram, OutputRegion
from kiln.sim.programs.weight_tiles import pack_weight_tiles


def matmul_program(config: VPUConfig, a: np.ndarray, b: np.ndarray,
                   name: str = "matmul") -> ExampleProgram:
    """Return the program computing int32 ``a @ b`` for int8 ``a`` [M, K], ``b`` [K, N]."""
    dim = config.dim
    m, k = a.shape
    n = b.shape[1]
    kb_count, nb_count = -(-k // dim), -(-n // dim)
    if kb_count > 63:
        raise ValueError(f"K = {k} needs {kb_count} K-blocks; one GEMM takes at most 63")
    # Rows per step: two buffers of A rows, tiles and accumulator rows must fit.
    weight_rows = kb_count * dim
    tile_m = min(m, 255, (config.sp_depth // 2 - weight_rows) // kb_count, config.acc_depth // 2)
    if tile_m < 1:
        raise ValueError("the scratchpad cannot hold two buffers of one K-panel")
    layout = DramLayout()
    a_addr = layout.place("a", a.astype(np.int8))
    tiles = pack_weight_tiles(b.astype(np.int8).reshape(1, 1, k, n), dim)  # [nb, 1, 1, kb]
    b_addr = layout.place("b", tiles)
    c_addr = layout.reserve("c", m * n * 4)
    a_buf = [0, kb_count * tile_m]
    w_buf = [2 * kb_count * tile_m, 2 * kb_count * tile_m + weight_rows]
    acc_buf = [0, tile_m]
    steps = []
    for m0 in range(0, m, tile_m):
        rows = min(tile_m, m - m0)
        for nb in range(nb_count):
            s = len(steps) % 2
            loads = [Instruction("LOAD", mem="sp", dst=a_buf[s] + kb * rows,
                                 dram=a_addr + m0 * k + kb * dim, y_size=rows, x_size=1,
                                 y_stride=k, lanes=min(dim, k - kb * dim) % dim)
                     for kb in range(kb_count)]
            loads.append(Instruction("LOAD", mem="sp", dst=w_buf[s],
                                     dram=b_addr + nb * kb_count * dim * dim, y_size=kb_count,
                                     x_size=dim, y_stride=dim * dim, x_stride=dim))
            gemm = Instruction("GEMM", accumulate=0, acc=acc_buf[s], inp=a_buf[s], wgt=w_buf[s],
                               k_count=kb_count, k_inp_inc=rows, o_count=1, i_count=rows,
                               i_inp_inc=1)
            store = Instruction("STORE", mem="acc", src=acc_buf[s],
                                dram=c_addr + (m0 * n + nb * dim) * 4, y_size=rows, x_size=1,
                                y_stride=n * 4, lanes=min(dim, n - nb * dim) % dim)
            steps.append(Step(loads, [gemm], [store]))
    program = double_buffered(steps)
    image, program_address = layout.image(encode_program(program))

    def reference() -> dict[str, np.ndarray]:
        return {"c": (a.astype(np.int64) @ b.astype(np.int64)).astype(np.int32)}

    return ExampleProgram(name, config, tuple(program), image,
                          (OutputRegion("c", c_addr, (m, n), "int32"),), reference,
                          program_address)
