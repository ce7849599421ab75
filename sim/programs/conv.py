"""A quantized 2-D convolution layer by direct tiling (no im2col copy in DRAM).

Input x [H, W, C] int8 (NHWC, batch 1), weights [KH, KW, C, K] int8, bias [K]
int32, per-channel requantization (multiplier, shift), output zero point and
optional ReLU; output [OH, OW, K] int8.

On chip, pixel (y, x) of the input window of one channel block is scratchpad
row ``base + y * (W + 2*pad) + x`` (LOAD writes the zero padding), so the
input rows of output pixel (oy, ox) for kernel position (dy, dx) are an affine
function of (oy, ox): one GEMM per kernel position covers a whole band of output
rows, its weight loop walking the channel blocks. A step is (band of output
rows, output-channel block): KH*KW GEMMs, a VADD of the bias, a VREQ (ReLU
fused) and one STORE.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from kiln.hw.config import VPUConfig
from kiln.hw.isa import Instruction, encode_program
from kiln.sim.programs.double_buffering import Step, double_buffered
from kiln.sim.programs.dram_layout import DramLayout
from kiln.sim.programs.example import ExampleProgram, OutputRegion
from kiln.sim.programs.reference import conv2d_reference, requantize_reference
from kiln.sim.programs.weight_tiles import pack_weight_tiles

_MAX_INC = (1 << 12) - 1   # GEMM k_inp_inc / o_inp_inc / o_acc_inc
_MAX_PAD = 7               # LOAD pad_* fields


@dataclass(frozen=True)
class ConvLayer:
    """The tensors and attributes of one quantized convolution."""

    x: np.ndarray           # [H, W, C] int8
    w: np.ndarray           # [KH, KW, C, K] int8
    bias: np.ndarray        # [K] int32
    multiplier: np.ndarray  # [K] int32
    shift: np.ndarray       # [K] 0..63
    stride: int = 1
    pad: int = 0
    zero_point: int = 0
    relu: bool = False

    @property
    def out_shape(self) -> tuple[int, int, int]:
        """(OH, OW, K) of the output."""
        h, w, _ = self.x.shape
        kh, kw, _, k = self.w.shape
        return ((h + 2 * self.pad - kh) // self.stride + 1,
                (w + 2 * self.pad - kw) // self.stride + 1, k)

    def reference(self) -> np.ndarray:
        """Return the expected int8 output (exact integer arithmetic)."""
        acc = conv2d_reference(self.x, self.w, self.stride, self.pad) + self.bias.astype(np.int64)
        lo = self.zero_point if self.relu else -128
        return requantize_reference(acc, self.multiplier, self.shift, self.zero_point, lo, 127)


def random_conv_layer(rng: np.random.Generator, h: int, w: int, c: int, k: int, kernel: int,
                      stride: int = 1, pad: int = 0, relu: bool = True) -> ConvLayer:
    """Return a conv layer with random int8 data and plausible requantization parameters."""
    x = rng.integers(-128, 128, (h, w, c), dtype=np.int8)
    weights = rng.integers(-128, 128, (kernel, kernel, c, k), dtype=np.int8)
    bias = rng.integers(-(1 << 16), 1 << 16, k, dtype=np.int32)
    shift = rng.integers(20, 28, k).astype(np.int32)
    multiplier = rng.integers(1 << 14, 1 << 16, k, dtype=np.int32)
    return ConvLayer(x, weights, bias, multiplier, shift, stride, pad,
                     int(rng.integers(-20, 20)), relu)


def _band_rows(config: VPUConfig, layer: ConvLayer, cb: int) -> int:
    """Return the most output rows per step whose two buffer sets fit on chip."""
    h, w, _ = layer.x.shape
    kh, kw, _, _ = layer.w.shape
    oh, ow, _ = layer.out_shape
    wp = w + 2 * layer.pad
    weight_rows = kh * kw * cb * config.dim
    best = 0
    for band in range(1, min(oh, 255) + 1):
        window = (band - 1) * layer.stride + kh
        sp = 2 * (cb * window * wp + weight_rows + band * ow)
        acc = 2 * (band * ow + 3)
        if (sp > config.sp_depth or acc > config.acc_depth or band * ow > 4095
                or window * wp > _MAX_INC):
            break
        best = band
    if best == 0:
        raise ValueError("the layer's smallest tile does not fit the scratchpad/accumulator")
    return best


def conv_program(config: VPUConfig, layer: ConvLayer, name: str = "conv") -> ExampleProgram:
    """Return the program of one quantized convolution layer and its reference."""
    dim = config.dim
    h, w, c = layer.x.shape
    kh, kw, _, k = layer.w.shape
    oh, ow, _ = layer.out_shape
    s, pad = layer.stride, layer.pad
    cb_count, kb_count = -(-c // dim), -(-k // dim)
    if cb_count > 63 or ow > 255 or pad > _MAX_PAD or s * (w + 2 * pad) > _MAX_INC:
        raise ValueError("layer outside what this tiling handles (C <= 63*dim, OW <= 255, "
                         "pad <= 7)")
    wp = w + 2 * pad
    band = _band_rows(config, layer, cb_count)
    weight_rows = kh * kw * cb_count * dim

    layout = DramLayout()
    x_addr = layout.place("x", layer.x.astype(np.int8))
    w_addr = layout.place("w", pack_weight_tiles(layer.w.astype(np.int8), dim))
    params = np.zeros((kb_count, 3, dim), dtype="<i4")   # bias, multiplier, shift rows
    for row, values in enumerate((layer.bias, layer.multiplier, layer.shift)):
        padded = np.zeros(kb_count * dim, dtype=np.int64)
        padded[:k] = values
        params[:, row, :] = padded.reshape(kb_count, dim)
    p_addr = layout.place("params", params)
    y_addr = layout.reserve("y", oh * ow * k)

    window_max = (band - 1) * s + kh
    region = window_max * wp                       # rows per channel block
    in_buf = [0, cb_count * region]
    w_buf = [2 * cb_count * region + i * weight_rows for i in (0, 1)]
    out_buf = [w_buf[1] + weight_rows + i * band * ow for i in (0, 1)]
    acc_buf = [0, band * ow]
    par_buf = [2 * band * ow, 2 * band * ow + 3]
    lo = layer.zero_point if layer.relu else -128

    steps = []
    for oy0 in range(0, oh, band):
        rows = min(band, oh - oy0)
        iy0 = oy0 * s - pad
        window = (rows - 1) * s + kh
        pad_top, pad_bottom = max(0, -iy0), max(0, iy0 + window - h)
        for kb in range(kb_count):
            b = len(steps) % 2
            loads = []
            for cb in range(cb_count):
                loads.append(Instruction(
                    "LOAD", mem="sp", dst=in_buf[b] + cb * region,
                    dram=x_addr + (max(iy0, 0) * w * c) + cb * dim,
                    y_size=window - pad_top - pad_bottom, x_size=w, y_stride=w * c,
                    x_stride=c, lanes=min(dim, c - cb * dim) % dim, pad_top=pad_top,
                    pad_bottom=pad_bottom, pad_left=pad, pad_right=pad))
            tile_bytes = weight_rows * dim
            loads.append(Instruction("LOAD", mem="sp", dst=w_buf[b],
                                     dram=w_addr + kb * tile_bytes, y_size=kh * kw * cb_count,
                                     x_size=dim, y_stride=dim * dim, x_stride=dim))
            loads.append(Instruction("LOAD", mem="acc", dst=par_buf[b],
                                     dram=p_addr + kb * 3 * dim * 4, y_size=3, x_size=1,
                                     y_stride=dim * 4))
            computes = []
            for dy in range(kh):
                for dx in range(kw):
                    computes.append(Instruction(
                        "GEMM", accumulate=int(bool(computes)), acc=acc_buf[b],
                        inp=in_buf[b] + dy * wp + dx,
                        wgt=w_buf[b] + (dy * kw + dx) * cb_count * dim,
                        k_count=cb_count, k_inp_inc=region, o_count=rows, o_inp_inc=s * wp,
                        o_acc_inc=ow, i_count=ow, i_inp_inc=s))
            computes.append(Instruction("VADD", src_mem="acc", dst=acc_buf[b], src=par_buf[b],
                                        count=rows * ow, dst_stride=1, src_stride=0))
            computes.append(Instruction("VREQ", src=acc_buf[b], dst=out_buf[b],
                                        param=par_buf[b] + 1, count=rows * ow, src_stride=1,
                                        dst_stride=1, zero_point=layer.zero_point, lo=lo,
                                        hi=127))
            stores = [Instruction("STORE", mem="sp", src=out_buf[b],
                                  dram=y_addr + oy0 * ow * k + kb * dim, y_size=rows,
                                  x_size=ow, y_stride=ow * k, x_stride=k,
                                  lanes=min(dim, k - kb * dim) % dim)]
            steps.append(Step(loads, computes, stores))
    program = double_buffered(steps)
    image, program_address = layout.image(encode_program(program))
    return ExampleProgram(name, config, tuple(program), image,
                          (OutputRegion("y", y_addr, (oh, ow, k), "int8"),),
                          lambda: {"y": layer.reference()}, program_address)
