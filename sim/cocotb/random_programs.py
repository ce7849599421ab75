"""Random legal VPU programs for co-simulation: every instruction, unaligned DMA, padding.

`random_program(config, seed)` draws one program and its DRAM image. It runs in
rounds: LOADs (random strides, lanes, padding and unaligned DRAM addresses) into
fresh scratchpad and accumulator rows; compute instructions on them (GEMM with a
random loop nest, VADD, VCLIP, VREQ, VPOOL); STOREs of the results to disjoint
DRAM regions. Rounds use distinct rows. Dependency tokens order each round
load -> compute -> store, and from the second round on a no-op VCLIP relays a
token store -> compute -> load, so all four token FIFOs are exercised.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from kiln.hw.config import VPUConfig
from kiln.hw.isa import Instruction, Opcode

SP, ACC = "sp", "acc"


@dataclass
class RandomProgram:
    """A random program, its DRAM image, and where it is stored."""

    instructions: list[Instruction]
    dram: np.ndarray
    program_address: int


class _Rows:
    """Hand out fresh, non-overlapping on-chip rows."""

    def __init__(self, depth: int):
        self.depth, self.next = depth, 0

    def take(self, count: int) -> int:
        if self.next + count > self.depth:
            raise ValueError("out of rows")
        first, self.next = self.next, self.next + count
        return first


def _load(rng, config, mem: str, rows: _Rows, dram_cursor: list[int], *, y=None, x=None,
          lanes=None, padding=True) -> tuple[Instruction, int, int]:
    """Return a random LOAD and (first row, rows written)."""
    dim = config.dim
    y_size = y or int(rng.integers(1, 5))
    x_size = x or int(rng.integers(1, 5))
    pads = rng.integers(0, 3, 4) if padding and rng.random() < 0.5 else np.zeros(4, int)
    lanes = dim if lanes is None else lanes
    element = lanes * (1 if mem == SP else 4)
    x_stride = element + int(rng.integers(0, 5))
    y_stride = x_stride * x_size + int(rng.integers(0, 9))
    address = dram_cursor[0] + int(rng.integers(0, 16))
    dram_cursor[0] = address + y_stride * y_size + 64
    height = int(pads[0] + y_size + pads[1])
    width = int(pads[2] + x_size + pads[3])
    dst = rows.take(height * width)
    instruction = Instruction(Opcode.LOAD, mem=mem, dst=dst, dram=address, y_size=y_size,
                              x_size=x_size, y_stride=y_stride, x_stride=x_stride,
                              lanes=0 if lanes == dim else lanes, pad_top=int(pads[0]),
                              pad_bottom=int(pads[1]), pad_left=int(pads[2]),
                              pad_right=int(pads[3]))
    return instruction, dst, height * width


def _round(rng, config: VPUConfig, sp: _Rows, acc: _Rows, cursor: list[int],
           out_cursor: list[int], first_round: bool, last_round: bool) -> list[Instruction]:
    dim = config.dim
    loads, compute, stores = [], [], []

    # Operands: input rows, one or two weight tiles, accumulator rows, requantize params.
    inp_load, inp_row, inp_rows = _load(rng, config, SP, sp, cursor,
                                        lanes=int(rng.integers(1, dim + 1)))
    loads.append(inp_load)
    tiles = int(rng.integers(1, 3))
    wgt_load, wgt_row, _ = _load(rng, config, SP, sp, cursor, y=tiles * dim, x=1, padding=False)
    loads.append(wgt_load)
    bias_load, bias_row, _ = _load(rng, config, ACC, acc, cursor, y=1, x=1, padding=False)
    loads.append(bias_load)
    param_row = acc.take(2)
    small = np.zeros((2, dim), dtype="<i4")
    small[0] = rng.integers(-(1 << 16), 1 << 16, dim)
    small[1] = rng.integers(0, 64, dim) if rng.random() < 0.3 else rng.integers(8, 24, dim)
    param_address = cursor[0] + int(rng.integers(0, 16))
    cursor[0] = param_address + small.nbytes + 64
    loads.append(Instruction(Opcode.LOAD, mem=ACC, dst=param_row, dram=param_address,
                             y_size=2, x_size=1, y_stride=4 * dim, x_stride=0, lanes=0))
    loads.append(small)  # placeholder for the image writer, removed below

    # GEMM: a loop nest over the loaded input rows.
    i_count = int(rng.integers(1, min(inp_rows, 12) + 1))
    o_count = int(rng.integers(1, 3))
    o_acc_inc = i_count + int(rng.integers(0, 3))
    acc_out = acc.take(o_acc_inc * (o_count - 1) + i_count)
    compute.append(Instruction(
        Opcode.GEMM, accumulate=int(rng.integers(0, 2)), acc=acc_out, inp=inp_row,
        wgt=wgt_row, k_count=tiles, k_inp_inc=0, o_count=o_count, o_inp_inc=0,
        o_acc_inc=o_acc_inc, i_count=i_count, i_inp_inc=int(rng.integers(0, 2))))
    out_rows_list = [acc_out + o * o_acc_inc + i for o in range(o_count) for i in range(i_count)]
    compute.append(Instruction(Opcode.VADD, src_mem=ACC, dst=acc_out, src=bias_row,
                               count=i_count, dst_stride=1, src_stride=0))
    lo = int(rng.integers(-(1 << 20), 0))
    compute.append(Instruction(Opcode.VCLIP, dst=acc_out, count=i_count, dst_stride=1,
                               lo=lo, hi=int(rng.integers(0, 1 << 20))))
    q_row = sp.take(i_count)
    zero_point = int(rng.integers(-20, 20))
    q_lo = int(rng.integers(-128, zero_point + 1))
    compute.append(Instruction(Opcode.VREQ, src=acc_out, dst=q_row, param=param_row,
                               count=i_count, src_stride=1, dst_stride=1,
                               zero_point=zero_point, lo=q_lo,
                               hi=int(rng.integers(max(q_lo, 0), 128))))
    # Pooling over the requantized int8 rows into the accumulator, and over acc rows into sp.
    pool_acc = acc.take(i_count)
    win = int(rng.integers(1, 3))
    count = max(1, (i_count - win) // win + 1)
    compute.append(Instruction(Opcode.VPOOL, mode=str(rng.choice(["max", "sum"])),
                               src_mem=SP, dst_mem=ACC, dst=pool_acc, src=q_row, count=count,
                               dst_stride=1, src_stride=win, win_h=1, win_w=win,
                               win_stride_h=0, win_stride_w=1))
    pool_sp = sp.take(1)
    compute.append(Instruction(Opcode.VPOOL, mode=str(rng.choice(["max", "sum"])),
                               src_mem=ACC, dst_mem=SP, dst=pool_sp, src=out_rows_list[0],
                               count=1, dst_stride=1, src_stride=0,
                               win_h=min(o_count, 2), win_w=min(i_count, 2),
                               win_stride_h=o_acc_inc, win_stride_w=1))

    def store(mem, src, rows, lanes):
        element = lanes * (1 if mem == SP else 4)
        x_stride = element + int(rng.integers(0, 3))
        address = out_cursor[0] + int(rng.integers(0, 16))
        out_cursor[0] = address + x_stride * rows + 64
        return Instruction(Opcode.STORE, mem=mem, src=src, dram=address, y_size=1,
                           x_size=rows, y_stride=0, x_stride=x_stride,
                           lanes=0 if lanes == dim else lanes)

    stores.append(store(ACC, acc_out, i_count, int(rng.integers(1, dim + 1))))
    stores.append(store(SP, q_row, i_count, dim))
    stores.append(store(ACC, pool_acc, count, dim))
    stores.append(store(SP, pool_sp, 1, int(rng.integers(1, dim + 1))))

    # Tokens: load -> compute -> store; store -> (relay) -> load from the previous round.
    loads[-2] = loads[-2].replace(push_next=1)
    compute[0] = compute[0].replace(pop_prev=1)
    compute[-1] = compute[-1].replace(push_next=1)
    stores[0] = stores[0].replace(pop_prev=1)
    if not last_round:
        stores[-1] = stores[-1].replace(push_prev=1)
    relay = []
    if not first_round:
        loads[0] = loads[0].replace(pop_next=1)
        relay = [Instruction(Opcode.VCLIP, pop_next=1, push_prev=1, dst=acc.take(1), count=1,
                             lo=-(1 << 31), hi=(1 << 31) - 1)]
    return relay + loads + compute + stores


def random_program(config: VPUConfig, seed: int, rounds: int = 2,
                   dram_bytes: int = 64 << 10) -> RandomProgram:
    """Return a random legal program of ``rounds`` load/compute/store rounds and its DRAM.

    DRAM holds the program at 0, random input bytes after it and zeros in the
    output area (the upper half).
    """
    rng = np.random.default_rng(seed)
    cursor, out_cursor = [4096], [dram_bytes // 2]
    body: list = []
    sp, acc = _Rows(config.sp_depth), _Rows(config.acc_depth)
    for r in range(rounds):
        body += _round(rng, config, sp, acc, cursor, out_cursor, r == 0, r == rounds - 1)
    dram = np.zeros(dram_bytes, dtype=np.uint8)
    dram[4096:dram_bytes // 2] = rng.integers(0, 256, dram_bytes // 2 - 4096, dtype=np.uint8)
    instructions: list[Instruction] = []
    for item in body:
        if isinstance(item, np.ndarray):  # requantize parameters of the LOAD before it
            load = instructions[-1]
            raw = item.view(np.uint8).reshape(-1)
            dram[load.dram:load.dram + raw.size] = raw
        else:
            instructions.append(item)
    instructions.append(Instruction(Opcode.FINISH))
    if cursor[0] > dram_bytes // 2 or out_cursor[0] > dram_bytes:
        raise ValueError("random program does not fit its DRAM")
    return RandomProgram(instructions, dram, 0)


def random_dma_program(config: VPUConfig, seed: int, transfers: int = 6,
                       dram_bytes: int = 64 << 10) -> RandomProgram:
    """Return a program of LOAD/STORE round trips only: the DMA engines' workout.

    Each transfer LOADs a random block (scratchpad or accumulator, random lanes,
    padding, strides and byte alignment) and STOREs the written rows elsewhere with
    other random strides and alignment; a no-op VCLIP relays the load -> store token.
    """
    rng = np.random.default_rng(seed)
    dim = config.dim
    cursor, out_cursor = [4096], [dram_bytes // 2]
    sp, acc = _Rows(config.sp_depth), _Rows(config.acc_depth)
    instructions: list[Instruction] = []
    for _ in range(transfers):
        mem = SP if rng.random() < 0.5 else ACC
        lanes = int(rng.integers(1, dim + 1))
        load, first, rows = _load(rng, config, mem, sp if mem == SP else acc, cursor,
                                  lanes=lanes)
        element = lanes * (1 if mem == SP else 4)
        x_stride = element + int(rng.integers(0, 6))
        x_size = int(rng.integers(1, rows + 1))
        y_size = rows // x_size
        address = out_cursor[0] + int(rng.integers(0, 16))
        y_stride = x_stride * x_size + int(rng.integers(0, 7))
        out_cursor[0] = address + y_stride * y_size + 64
        store = Instruction(Opcode.STORE, pop_prev=1, mem=mem, src=first, dram=address,
                            y_size=y_size, x_size=x_size, y_stride=y_stride,
                            x_stride=x_stride, lanes=0 if lanes == dim else lanes)
        relay = Instruction(Opcode.VCLIP, pop_prev=1, push_next=1, dst=acc.take(1), count=1,
                            lo=-(1 << 31), hi=(1 << 31) - 1)
        instructions += [load.replace(push_next=1), relay, store]
    instructions.append(Instruction(Opcode.FINISH))
    if cursor[0] > dram_bytes // 2 or out_cursor[0] > dram_bytes:
        raise ValueError("random DMA program does not fit its DRAM")
    dram = np.zeros(dram_bytes, dtype=np.uint8)
    dram[4096:dram_bytes // 2] = rng.integers(0, 256, dram_bytes // 2 - 4096, dtype=np.uint8)
    return RandomProgram(instructions, dram, 0)
