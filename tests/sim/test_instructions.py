"""Every instruction against a naive numpy/Python reference of its docstring semantics."""

import numpy as np
import pytest
from kiln.hw.config import VPUConfig
from kiln.hw.isa import Instruction, encode_program
from kiln.sim import Machine

PROGRAM = 0x8000  # programs live here; data below


def run(machine: Machine, *instructions: Instruction):
    program = [*instructions, Instruction("FINISH")]
    machine.write(PROGRAM, encode_program(program))
    return machine.run(PROGRAM, len(program))


def fresh(dim=8, seed=0, **kw):
    m = Machine(VPUConfig(dim=dim, sp_depth=1024, acc_depth=512, **kw), dram_size=1 << 16)
    rng = np.random.default_rng(seed)
    m.scratchpad[...] = rng.integers(-128, 128, m.scratchpad.shape)
    m.accumulator[...] = rng.integers(-(1 << 31), 1 << 31, m.accumulator.shape)
    m.dram[:PROGRAM] = rng.integers(0, 256, PROGRAM)
    return m, rng


@pytest.mark.parametrize("dim", [4, 8, 16])
@pytest.mark.parametrize("mem", ["sp", "acc"])
@pytest.mark.parametrize("seed", range(4))
def test_load_2d_strided_with_padding(dim, mem, seed):
    m, rng = fresh(dim, seed)
    eb = 1 if mem == "sp" else 4
    lanes = int(rng.integers(0, dim + 1))
    n = lanes or dim
    y, x = int(rng.integers(1, 5)), int(rng.integers(1, 5))
    xs = int(rng.integers(n * eb, n * eb + 9))
    ys = int(rng.integers(x * xs, x * xs + 20))
    pads = [int(v) for v in rng.integers(0, 3, 4)]
    dram, dst = int(rng.integers(0, 1000)), int(rng.integers(0, 200))
    before = m.state.memory(mem).copy()
    run(m, Instruction("LOAD", mem=mem, dst=dst, dram=dram, y_size=y, x_size=x, y_stride=ys,
                       x_stride=xs, lanes=lanes, pad_top=pads[0], pad_bottom=pads[1],
                       pad_left=pads[2], pad_right=pads[3]))
    yy, xx = pads[0] + y + pads[1], pads[2] + x + pads[3]
    expected = before.copy()
    for r in range(yy):
        for c in range(xx):
            row = np.zeros(dim, dtype=before.dtype)
            if pads[0] <= r < pads[0] + y and pads[2] <= c < pads[2] + x:
                a = dram + (r - pads[0]) * ys + (c - pads[2]) * xs
                raw = bytes(m.dram[a:a + n * eb])
                row[:n] = np.frombuffer(raw, dtype=np.int8 if mem == "sp" else "<i4")
            expected[dst + r * xx + c] = row
    np.testing.assert_array_equal(m.state.memory(mem), expected)


@pytest.mark.parametrize("mem", ["sp", "acc"])
@pytest.mark.parametrize("seed", range(4))
def test_store_2d_strided(mem, seed):
    m, rng = fresh(8, seed)
    eb = 1 if mem == "sp" else 4
    lanes = int(rng.integers(0, 9))
    n = lanes or 8
    y, x = int(rng.integers(1, 5)), int(rng.integers(1, 5))
    xs = int(rng.integers(n * eb, n * eb + 5))
    ys = x * xs + int(rng.integers(0, 7))
    src, dram = int(rng.integers(0, 300)), int(rng.integers(0, 2000))
    before = m.dram.copy()
    run(m, Instruction("STORE", mem=mem, src=src, dram=dram, y_size=y, x_size=x, y_stride=ys,
                       x_stride=xs, lanes=lanes))
    expected = before
    rows = m.state.memory(mem)
    for r in range(y):
        for c in range(x):
            a = dram + r * ys + c * xs
            data = rows[src + r * x + c, :n].astype(np.int8 if mem == "sp" else "<i4")
            expected[a:a + n * eb] = np.frombuffer(data.tobytes(), np.uint8)
    np.testing.assert_array_equal(m.dram[:PROGRAM], expected[:PROGRAM])


def gemm_reference(sp, acc, i, dim):
    acc = acc.astype(np.int64).copy()
    for k in range(i.k_count):
        w = sp[i.wgt + k * dim:i.wgt + (k + 1) * dim].astype(np.int64)
        for o in range(i.o_count):
            for n in range(i.i_count):
                a = sp[i.inp + k * i.k_inp_inc + o * i.o_inp_inc + n * i.i_inp_inc]
                r = i.acc + o * i.o_acc_inc + n
                base = 0 if (i.accumulate == 0 and k == 0) else acc[r]
                acc[r] = base + a.astype(np.int64) @ w
                acc[r] = (acc[r] + (1 << 31)) % (1 << 32) - (1 << 31)
    return acc.astype(np.int32)


@pytest.mark.parametrize("dim", [4, 8, 16])
@pytest.mark.parametrize("seed", range(6))
def test_gemm_loop_nest_against_naive_loops(dim, seed):
    m, rng = fresh(dim, seed)
    kc, oc, ic = (int(v) for v in rng.integers(1, 4, 3))
    instr = Instruction("GEMM", accumulate=int(rng.integers(0, 2)),
                        acc=int(rng.integers(0, 100)), inp=int(rng.integers(0, 100)),
                        wgt=int(rng.integers(300, 500)), k_count=kc,
                        k_inp_inc=int(rng.integers(0, 30)), o_count=oc,
                        o_inp_inc=int(rng.integers(0, 30)),
                        o_acc_inc=int(rng.integers(ic, ic + 5)), i_count=ic,
                        i_inp_inc=int(rng.integers(0, 4)))
    expected = gemm_reference(m.scratchpad, m.accumulator, instr, dim)
    result = run(m, instr)
    np.testing.assert_array_equal(m.accumulator, expected)
    assert result.counters["macs"] == kc * oc * ic * dim * dim


def test_gemm_wraps_at_32_bits_and_uses_exact_products():
    m, _ = fresh(8)
    m.scratchpad[0:8] = -128          # input rows
    m.scratchpad[8:16] = -128         # weights
    m.accumulator[0] = (1 << 31) - 1
    run(m, Instruction("GEMM", accumulate=1, acc=0, inp=0, wgt=8, i_count=1))
    # 8 products of 16384 each: (2**31 - 1) + 131072 wraps to -2**31 + 131071
    assert (m.accumulator[0] == -(1 << 31) + 131071).all()


def test_gemm_large_reduction_uses_exact_arithmetic():
    m = Machine(VPUConfig(dim=64, sp_depth=8192, acc_depth=64), dram_size=1 << 20)
    m.scratchpad[...] = -128
    run(m, Instruction("GEMM", accumulate=0, acc=0, inp=0, wgt=64, k_count=63, k_inp_inc=64,
                       i_count=2))
    assert (m.accumulator[0:2] == 63 * 64 * 16384).all()


@pytest.mark.parametrize("src_mem", ["acc", "sp"])
def test_vadd_broadcast_and_rows(src_mem):
    m, _ = fresh(8, 3)
    before = m.accumulator.astype(np.int64).copy()
    src_rows = m.state.memory(src_mem).astype(np.int64).copy()
    run(m, Instruction("VADD", src_mem=src_mem, dst=10, src=200, count=5, dst_stride=3,
                       src_stride=0),
        Instruction("VADD", src_mem=src_mem, dst=40, src=300, count=4, dst_stride=1,
                    src_stride=2))
    expected = before.copy()
    for n in range(5):
        expected[10 + 3 * n] += src_rows[200]
    for n in range(4):
        expected[40 + n] += src_rows[300 + 2 * n]
    expected = (expected + (1 << 31)) % (1 << 32) - (1 << 31)
    np.testing.assert_array_equal(m.accumulator, expected)


def test_vclip_relu_and_clip():
    m, _ = fresh(8, 4)
    before = m.accumulator.copy()
    run(m, Instruction("VCLIP", dst=5, count=7, dst_stride=2, lo=0, hi=(1 << 31) - 1),
        Instruction("VCLIP", dst=100, count=3, dst_stride=1, lo=-1000, hi=1000))
    expected = before.copy()
    for n in range(7):
        expected[5 + 2 * n] = np.maximum(before[5 + 2 * n], 0)
    expected[100:103] = np.clip(before[100:103], -1000, 1000)
    np.testing.assert_array_equal(m.accumulator, expected)


def requant_naive(x, m, s, zp, lo, hi):
    out = []
    for xv, mv, sv in zip(x, m, s):
        p = int(xv) * int(mv)
        sv = int(sv) & 63
        q = (p + (1 << (sv - 1))) // (1 << sv) if sv else p   # floor(p / 2**s + 1/2)
        out.append(min(max(q + zp, lo), hi))
    return np.array(out, dtype=np.int8)


@pytest.mark.parametrize("seed", range(5))
def test_vreq_per_lane_round_half_up_saturating(seed):
    m, rng = fresh(8, seed)
    m.accumulator[0] = rng.integers(-(1 << 31), 1 << 31, 8)   # multipliers
    m.accumulator[1] = rng.integers(0, 128, 8)                # shifts (taken & 63)
    m.accumulator[10:20] = rng.integers(-(1 << 31), 1 << 31, (10, 8))
    zp, lo, hi = int(rng.integers(-128, 128)), -100, 90
    run(m, Instruction("VREQ", src=10, dst=50, param=0, count=10, src_stride=1, dst_stride=2,
                       zero_point=zp, lo=lo, hi=hi))
    for n in range(10):
        want = requant_naive(m.accumulator[10 + n], m.accumulator[0], m.accumulator[1], zp, lo,
                             hi)
        np.testing.assert_array_equal(m.scratchpad[50 + 2 * n], want)


def test_vreq_rounds_ties_up_and_handles_extremes():
    m, _ = fresh(8)
    m.accumulator[0] = [1, 1, 1, 1, -(1 << 31), -(1 << 31), 3, 1]
    m.accumulator[1] = [1, 1, 1, 1, 63, 62, 0, 64]            # 64 & 63 = 0
    m.accumulator[2] = [5, -5, 3, -3, -(1 << 31), -(1 << 31), 50, 7]
    run(m, Instruction("VREQ", src=2, dst=0, param=0))
    # 2.5 -> 3, -2.5 -> -2, 1.5 -> 2, -1.5 -> -1, 2**62/2**63 = 0.5 -> 1, 2**62/2**62 = 1,
    # 150 saturates to 127, shift 64 & 63 = 0 -> 7
    assert m.scratchpad[0].tolist() == [3, -2, 2, -1, 1, 1, 127, 7]


@pytest.mark.parametrize("mode", ["max", "sum"])
@pytest.mark.parametrize("src_mem, dst_mem", [("sp", "sp"), ("sp", "acc"), ("acc", "acc"),
                                              ("acc", "sp")])
def test_vpool_windows(mode, src_mem, dst_mem):
    m, _ = fresh(8, 7)
    src = m.state.memory(src_mem).astype(np.int64).copy()
    before = m.state.memory(dst_mem).copy()
    run(m, Instruction("VPOOL", mode=mode, src_mem=src_mem, dst_mem=dst_mem, dst=400, src=10,
                       count=4, dst_stride=1, src_stride=2, win_h=2, win_w=3, win_stride_h=20,
                       win_stride_w=1))
    expected = before.copy()
    for n in range(4):
        rows = [10 + 2 * n + wy * 20 + wx for wy in range(2) for wx in range(3)]
        win = src[rows]
        v = win.max(axis=0) if mode == "max" else win.sum(axis=0)
        v = (v + (1 << 31)) % (1 << 32) - (1 << 31)
        expected[400 + n] = np.clip(v, -128, 127) if dst_mem == "sp" else v
    np.testing.assert_array_equal(m.state.memory(dst_mem), expected)


def test_random_instruction_sequences_match_the_naive_machine():
    """Seeded random mixes of GEMM/VADD/VCLIP/VREQ/VPOOL run back to back (no tokens
    needed: one queue executes in order) and agree with the per-instruction references."""
    for seed in range(5):
        m, rng = fresh(8, 100 + seed)
        sp, acc = m.scratchpad.copy(), m.accumulator.copy()
        program = []
        for _ in range(12):
            kind = rng.integers(0, 3)
            if kind == 0:
                ic = int(rng.integers(1, 4))
                instr = Instruction("GEMM", accumulate=int(rng.integers(0, 2)),
                                    acc=int(rng.integers(0, 50)), inp=int(rng.integers(0, 50)),
                                    wgt=int(rng.integers(200, 300)),
                                    k_count=int(rng.integers(1, 3)), k_inp_inc=7,
                                    o_count=2, o_inp_inc=3, o_acc_inc=ic, i_count=ic,
                                    i_inp_inc=1)
                acc = gemm_reference(sp, acc, instr, 8)
            elif kind == 1:
                instr = Instruction("VCLIP", dst=int(rng.integers(0, 60)), count=5, dst_stride=1,
                                    lo=-(1 << 20), hi=1 << 20)
                acc = acc.copy()
                acc[instr.dst:instr.dst + 5] = np.clip(acc[instr.dst:instr.dst + 5], -(1 << 20),
                                                       1 << 20)
            else:
                instr = Instruction("VADD", src_mem="sp", dst=int(rng.integers(0, 60)),
                                    src=int(rng.integers(300, 400)), count=3, dst_stride=1,
                                    src_stride=1)
                acc = acc.copy().astype(np.int64)
                acc[instr.dst:instr.dst + 3] += sp[instr.src:instr.src + 3]
                acc = acc.astype(np.int32)
            program.append(instr)
        run(m, *program)
        np.testing.assert_array_equal(m.accumulator, acc)
