"""Lower layer specs (convolution-shaped GEMM layers, max pooling) to VPU instructions.

Every layer reads int8 channel-blocked images from DRAM and writes its results
back to DRAM (see kiln.compiler.layout); `ProgramBuilder` holds the static DRAM
plan (constants, activation buffers, the program) and joins the layers with
barriers (kiln.compiler.schedule).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from kiln.compiler.layout import groups
from kiln.compiler.schedule import Step
from kiln.errors import CompileError
from kiln.hw import isa
from kiln.hw.config import VPUConfig
from kiln.hw.isa import Instruction


def _largest(mnemonic: str, field: str) -> int:
    """Return the largest value ``field`` of ``mnemonic`` encodes: every limit comes from hw/isa.py."""
    return next(f.hi for f in isa.FORMATS[isa.MNEMONICS[mnemonic]].fields if f.name == field)


MAX_COUNT = _largest("VREQ", "count")  # row counts of VADD / VREQ / VPOOL
MAX_K = _largest("GEMM", "k_count")
MAX_INC = _largest("GEMM", "k_inp_inc")  # GEMM address increments
MAX_XY = _largest("LOAD", "x_size")  # DMA sizes and GEMM o/i counts
MAX_PAD = _largest("LOAD", "pad_top")
MAX_WINDOW = _largest("VPOOL", "win_h")
ALIGN = 64


@dataclass
class View:
    """A channel-blocked image ``[n][ceil(c/dim)][h][w][dim]`` in DRAM.

    ``element`` is the bytes per lane (1: int8, 4: int32 accumulators); ``pitch`` the
    rows between channel groups when the view is a slice of a taller image.
    """

    address: int
    shape: tuple[int, int, int, int]
    element: int = 1
    pitch: int | None = None

    def at(self, b: int, g: int, y: int, dim: int) -> int:
        """Return the DRAM address of pixel row ``y`` of channel group ``g`` of image ``b``."""
        _, c, h, w = self.shape
        pitch = h * w if self.pitch is None else self.pitch
        return self.address + ((b * groups(c, dim) + g) * pitch + y * w) * dim * self.element

    def rows(self, start: int, count: int, dim: int) -> View:
        """Return the view of image rows ``start .. start+count`` (a batch of a row-layout tensor)."""
        _, c, h, w = self.shape
        return View(self.address + start * w * dim * self.element, (1, c, count, w), self.element,
                    h * w if self.pitch is None else self.pitch)


@dataclass
class Int8Output:
    """A requantized output: VREQ with per-channel (multiplier, shift), clamp [lo, hi]."""

    view: View
    multiplier: np.ndarray
    shift: np.ndarray
    lo: int = -128
    hi: int = 127


@dataclass
class ConvSpec:
    """A convolution-shaped layer: ``sources[g]`` is input channel group g (view, group)."""

    name: str
    kind: str
    nodes: list[str]
    sources: list[tuple[View, int]]
    batch: int
    height: int
    width: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    dilation: tuple[int, int]
    pads: tuple[int, int, int, int]  # top, left, bottom, right
    out_size: tuple[int, int]
    weights: np.ndarray  # int8 [c_out, len(sources) * dim, kh, kw]; all ones for weight_source
    bias: np.ndarray  # int32 [c_out]
    int8_outputs: list[Int8Output] = field(default_factory=list)
    acc_output: View | None = None  # the int32 result
    weight_source: View | None = None
    """Weights that are an activation (``[K, N]`` rows of a MatMul's second input) in DRAM."""


@dataclass
class MaxPoolSpec:
    """Max pooling of an int8 image, or (``int32``) of an int32 accumulator image."""

    name: str
    nodes: list[str]
    source: View
    kernel: tuple[int, int]
    stride: tuple[int, int]
    pads: tuple[int, int, int, int]
    output: View
    int32: bool = False


@dataclass
class AvgPoolSpec:
    """Average pooling (padding counted as zeros): window sums, then one requantization.

    ``acc_scale`` is the float value of one unit of a window sum (input scale / window size).
    """

    name: str
    nodes: list[str]
    source: View
    kernel: tuple[int, int]
    stride: tuple[int, int]
    pads: tuple[int, int, int, int]
    out_size: tuple[int, int]
    int8_outputs: list[Int8Output] = field(default_factory=list)
    acc_output: View | None = None


class ProgramBuilder:
    """Accumulates constants, buffers and layers into one program."""

    def __init__(self, config: VPUConfig):
        self.config = config
        self.constants = bytearray()
        self.constants_base = 0
        """DRAM address of the constants: set once every activation buffer is allocated."""
        self.buffers_end = 0
        self._constant_cache: dict[bytes, int] = {}

    def add_constant(self, data: np.ndarray) -> int:
        """Place constant bytes in the DRAM image (deduplicated); return the address."""
        raw = np.ascontiguousarray(data).tobytes()
        if raw in self._constant_cache:
            return self._constant_cache[raw]
        address = self.constants_base + len(self.constants)
        self.constants += raw
        self.constants += bytes(-len(self.constants) % ALIGN)
        self._constant_cache[raw] = address
        return address

    def allocate(self, nbytes: int) -> int:
        """Reserve an activation buffer of ``nbytes``; return its DRAM address."""
        offset = self.buffers_end
        self.buffers_end += nbytes + (-nbytes % ALIGN)
        return offset


def _split_counts(total: int, limit: int = MAX_COUNT):
    start = 0
    while start < total:
        yield start, min(limit, total - start)
        start += limit


@dataclass
class ConvPlan:
    """How a convolution-shaped layer is tiled.

    ``band`` output rows per tile; ``block`` output channel groups share each loaded
    input chunk (input reuse); ``chunk`` input channel groups are loaded per step.
    """

    band: int
    block: int
    chunk: int
    s_in: int
    plane: int
    cycles: int


def plan_conv(config: VPUConfig, spec: ConvSpec, active: np.ndarray) -> ConvPlan:
    """Return the tiling with the fewest estimated cycles that fits the on-chip memories.

    The estimate takes each step as max(its DMA cycles, its array cycles), as the
    double-buffered pipeline overlaps them.
    """
    dim = config.dim
    kh, kw = spec.kernel
    sy, _ = spec.stride
    dy, _ = spec.dilation
    pt, pl, pb, pr = spec.pads
    oh, ow = spec.out_size
    xp = pl + spec.width + pr
    ocg, n_in = active.shape[:2]
    n8 = len(spec.int8_outputs)
    params = 1 + 2 * n8
    used = active.any(axis=(2, 3))  # [ocg, n_in]
    taps = active.sum(axis=(2, 3))  # [ocg, n_in] weight tiles
    lat = config.dram_latency
    best = None
    bands = sorted({min(oh, MAX_XY)} | {-(-oh // k) for k in range(1, oh + 1) if -(-oh // k) <= MAX_XY})
    for ob in reversed(bands):
        rows = ob * ow
        yb = (ob - 1) * sy + (kh - 1) * dy + 1
        if yb > MAX_XY:
            continue
        plane = yb * xp
        for block in sorted({1, 2, 4, 8, 16, ocg}):
            if block > ocg or 2 * block * (rows + params) + 1 > config.acc_depth:
                continue
            s_in = (config.sp_depth - 2 * n8 * block * rows) // 2
            widest = max(int(used[o:o + block].any(axis=0).sum()) for o in range(0, ocg, block))
            chunk = min(widest, s_in // (plane + block * kh * kw * dim)) if s_in > 0 else 0
            if chunk < 1:
                continue
            n_bands = -(-oh // ob)
            cycles = 0
            for o in range(0, ocg, block):
                igs = np.flatnonzero(used[o:o + block].any(axis=0))
                for c0 in range(0, len(igs), chunk):
                    part = igs[c0:c0 + chunk]
                    tiles = int(taps[o:o + block][:, part].sum())
                    load = len(part) * (lat + yb * xp) + block * lat + tiles * dim
                    compute = tiles * (dim + rows) + 2 * dim * block * kh * kw
                    cycles += max(load, compute)
                cycles += block * (2 * rows + lat)
            cycles *= n_bands
            if best is None or cycles < best.cycles:
                best = ConvPlan(ob, block, chunk, s_in, plane, cycles)
    if best is None:
        raise CompileError(f"{spec.name}: no tiling fits the scratchpad ({config.sp_depth} rows) and "
                           f"accumulator ({config.acc_depth} rows)")
    return best


def conv_steps(builder: ProgramBuilder, spec: ConvSpec, step_base: int = 0,
               tile_base: int = 0) -> tuple[list[Step], int]:
    """Return the steps of a convolution-shaped layer and its MAC count.

    ``step_base`` / ``tile_base`` continue the buffer parities of steps already emitted
    for the same layer (a batched MatMul lowers one conv-shaped spec per batch).
    """
    cfg = builder.config
    dim = cfg.dim
    kh, kw = spec.kernel
    sy, sx = spec.stride
    dy, dx = spec.dilation
    pt, pl, pb, pr = spec.pads
    h, w = spec.height, spec.width
    oh, ow = spec.out_size
    c_out = spec.weights.shape[0]
    n_in = len(spec.sources)
    ocg = groups(c_out, dim)
    xp = pl + w + pr
    if max(spec.pads) > MAX_PAD:
        raise CompileError(f"{spec.name}: padding {spec.pads} exceeds the DMA's {MAX_PAD}")
    if w > MAX_XY or ow > MAX_XY:
        raise CompileError(f"{spec.name}: image width {w} (output {ow}) exceeds {MAX_XY}")
    if sy * xp > MAX_INC or sx > MAX_INC:
        raise CompileError(f"{spec.name}: stride x padded width {sy * xp} exceeds {MAX_INC}")

    weights = np.zeros((ocg * dim, n_in * dim, kh, kw), np.int8)
    weights[:c_out] = spec.weights
    tiles = weights.reshape(ocg, dim, n_in, dim, kh, kw)
    active = np.any(tiles != 0, axis=(1, 3))  # [ocg, n_in, kh, kw]
    for og in range(ocg):
        if not active[og].any():
            active[og, og % n_in, 0, 0] = True
    plan = plan_conv(cfg, spec, active)
    ob, block, chunk, s_in, plane = plan.band, plan.block, plan.chunk, plan.s_in, plan.plane
    n8 = len(spec.int8_outputs)
    params = 1 + 2 * n8
    acc_rows = ob * ow
    out_base = 2 * s_in
    prm_base = 2 * block * acc_rows
    weight_cache: dict[tuple[int, tuple[int, ...]], tuple[int, list, int]] = {}

    def weights_for(og: int, igs: tuple[int, ...]):
        """Return (constant address or None for activation weights, GEMM runs, tile count)."""
        key = (og, igs)
        if key not in weight_cache:
            descs, tile_list = [], []
            for ky, kx, slot, run in _runs(active, og, igs, plane, kh, kw):
                descs.append((ky, kx, slot, run, len(tile_list)))
                tile_list.extend(tiles[og, :, igs[slot + r], :, ky, kx].T for r in range(run))
            if spec.weight_source is not None:
                weight_cache[key] = (None, descs, len(tile_list))
            else:
                address = builder.add_constant(np.stack(tile_list).astype(np.int8))
                weight_cache[key] = (address, descs, len(tile_list))
        return weight_cache[key]

    param_cache: dict[int, int] = {}

    def params_for(og: int) -> int:
        if og not in param_cache:
            table = np.zeros((params, dim), np.int32)
            lo, hi = og * dim, min(og * dim + dim, c_out)
            table[0, :hi - lo] = spec.bias[lo:hi]
            for v, out in enumerate(spec.int8_outputs):
                table[1 + 2 * v, :hi - lo] = out.multiplier[lo:hi]
                table[2 + 2 * v, :hi - lo] = out.shift[lo:hi]
            param_cache[og] = builder.add_constant(table)
        return param_cache[og]

    steps: list[Step] = []
    macs = 0
    tile = tile_base
    for b in range(spec.batch):
        for band in range(0, oh, ob):
            ob_act = min(ob, oh - band)
            rows = ob_act * ow
            iy_start = band * sy - pt
            iy_end = (band + ob_act - 1) * sy - pt + (kh - 1) * dy
            pad_top, pad_bottom = max(0, -iy_start), max(0, iy_end - (h - 1))
            y0, y1 = max(iy_start, 0), min(iy_end, h - 1)
            for first_og in range(0, ocg, block):
                ogs = list(range(first_og, min(first_og + block, ocg)))
                parity = tile % 2
                union = tuple(int(g) for g in np.flatnonzero(active[ogs].any(axis=(0, 2, 3))))
                chunks = [union[i:i + chunk] for i in range(0, len(union), chunk)]
                first_gemm = dict.fromkeys(ogs, True)
                for ci, igs in enumerate(chunks):
                    in_base = ((step_base + len(steps)) % 2) * s_in
                    loads = []
                    for slot, ig in enumerate(igs):
                        view, g = spec.sources[ig]
                        loads.append(Instruction(
                            "LOAD", mem="sp", dst=in_base + slot * plane,
                            dram=view.at(b, g, y0, dim),
                            y_size=y1 - y0 + 1, x_size=w, y_stride=w * dim, x_stride=dim, lanes=0,
                            pad_top=pad_top, pad_bottom=pad_bottom, pad_left=pl, pad_right=pr))
                    w_base = in_base + len(igs) * plane
                    computes = []
                    for j, og in enumerate(ogs):
                        w_addr, descs, n_tiles = weights_for(og, igs)
                        if w_addr is None:  # weights are an activation: tiles of its rows
                            for _, _, slot, run, offset in descs:
                                loads.append(Instruction(
                                    "LOAD", mem="sp", dst=w_base + offset * dim,
                                    dram=spec.weight_source.at(b, og, igs[slot] * dim, dim), y_size=run,
                                    x_size=dim, y_stride=dim * dim, x_stride=dim))
                        for start, size in _split_counts(n_tiles if w_addr is not None else 0, MAX_XY):
                            loads.append(Instruction(
                                "LOAD", mem="sp", dst=w_base + start * dim,
                                dram=w_addr + start * dim * dim, y_size=size, x_size=dim,
                                y_stride=dim * dim, x_stride=dim))
                        if ci == 0:
                            loads.append(Instruction(
                                "LOAD", mem="acc", dst=prm_base + (parity * block + j) * params,
                                dram=params_for(og), y_size=1, x_size=params, y_stride=0, x_stride=4 * dim))
                        acc_base = (parity * block + j) * acc_rows
                        for ky, kx, slot, run, offset in descs:
                            computes.append(Instruction(
                                "GEMM", accumulate=0 if first_gemm[og] else 1, acc=acc_base,
                                inp=in_base + slot * plane + ky * dy * xp + kx * dx,
                                wgt=w_base + offset * dim, k_count=run, k_inp_inc=plane if run > 1 else 0,
                                o_count=ob_act, o_inp_inc=sy * xp, o_acc_inc=ow, i_count=ow, i_inp_inc=sx))
                            first_gemm[og] = False
                            macs += run * ob_act * ow * dim * dim
                        w_base += n_tiles * dim
                    stores = []
                    if ci == len(chunks) - 1:
                        for j, og in enumerate(ogs):
                            stores += _epilogue(spec, computes, og, (parity * block + j) * acc_rows,
                                                prm_base + (parity * block + j) * params,
                                                out_base + (parity * block + j) * n8 * acc_rows,
                                                b, band, ob_act, rows, ocg, dim)
                    if not computes:
                        raise CompileError(f"{spec.name}: a step without array work")
                    steps.append(Step(loads, computes, stores, tile=tile, first_in_tile=ci == 0))
                tile += 1
    return steps, macs


def _runs(active: np.ndarray, og: int, igs: tuple[int, ...], plane: int, kh: int, kw: int):
    """Yield (ky, kx, first slot, length) of each GEMM: runs of consecutive loaded input groups
    with non-zero weight tiles, at most MAX_K long (one run per slot when the plane is too tall
    for the GEMM's k increment)."""
    for ky in range(kh):
        for kx in range(kw):
            slot = 0
            while slot < len(igs):
                if not active[og, igs[slot], ky, kx]:
                    slot += 1
                    continue
                run = 1
                while (slot + run < len(igs) and run < MAX_K and plane <= MAX_INC
                       and active[og, igs[slot + run], ky, kx]):
                    run += 1
                yield ky, kx, slot, run
                slot += run


def _epilogue(spec: ConvSpec, computes: list[Instruction], og: int, acc_base: int, prm: int, out_rows: int,
              b: int, band: int, ob_act: int, rows: int, ocg: int, dim: int) -> list[Instruction]:
    """Append one output group's bias add and requantizations; return its stores."""
    oh, ow = spec.out_size
    if spec.bias[og * dim:og * dim + dim].any():
        for start, size in _split_counts(rows):
            computes.append(Instruction("VADD", src_mem="acc", dst=acc_base + start, src=prm, count=size,
                                        dst_stride=1, src_stride=0))
    stores = []
    for v, out in enumerate(spec.int8_outputs):
        dst = out_rows + v * rows
        for start, size in _split_counts(rows):
            computes.append(Instruction(
                "VREQ", src=acc_base + start, dst=dst + start, param=prm + 1 + 2 * v, count=size,
                src_stride=1, dst_stride=1, zero_point=0, lo=out.lo, hi=out.hi))
        stores.append(Instruction(
            "STORE", mem="sp", src=dst, dram=out.view.at(b, og, band, dim),
            y_size=ob_act, x_size=ow, y_stride=ow * dim, x_stride=dim))
    if spec.acc_output is not None:
        stores.append(Instruction(
            "STORE", mem="acc", src=acc_base, dram=spec.acc_output.at(b, og, band, dim), y_size=ob_act,
            x_size=ow, y_stride=ow * dim * 4, x_stride=dim * 4))
    if not stores:
        raise CompileError(f"{spec.name}: layer has no output")
    return stores


def maxpool_steps(builder: ProgramBuilder, spec: MaxPoolSpec) -> list[Step]:
    """Return the steps of an int8 max pooling layer (windows clipped at the borders)."""
    cfg = builder.config
    dim = cfg.dim
    n, c, h, w = spec.source.shape
    kh, kw = spec.kernel
    sy, sx = spec.stride
    pt, pl, _, _ = spec.pads
    _, _, oh, ow = spec.output.shape
    cg = groups(c, dim)
    if max(kh, kw) > MAX_WINDOW:
        raise CompileError(f"{spec.name}: pooling window {kh}x{kw} exceeds VPOOL's {MAX_WINDOW}")
    if w > MAX_XY or ow > MAX_XY:
        raise CompileError(f"{spec.name}: image width {w} exceeds {MAX_XY}")
    mem = "acc" if spec.int32 else "sp"
    eb = 4 if spec.int32 else 1
    half = (cfg.acc_depth - 1) // 2 if spec.int32 else cfg.sp_depth // 2
    plan = None
    for ob in range(min(oh, MAX_XY), 0, -1):
        in_rows = min(h, (ob - 1) * sy + kh)
        if in_rows <= MAX_XY and in_rows * w + ob * ow <= half:
            plan = ob
            break
    if plan is None:
        raise CompileError(f"{spec.name}: no tiling fits the {'accumulator' if spec.int32 else 'scratchpad'}")
    ob = plan
    steps = []
    tile = 0
    for b in range(n):
        for band in range(0, oh, ob):
            ob_act = min(ob, oh - band)
            y0 = max(0, band * sy - pt)
            y1 = min(h, (band + ob_act - 1) * sy - pt + kh)
            for g in range(cg):
                base = (tile % 2) * half
                out_base = base + (y1 - y0) * w
                loads = [Instruction(
                    "LOAD", mem=mem, dst=base,
                    dram=spec.source.address + ((b * cg + g) * h + y0) * w * dim * eb,
                    y_size=y1 - y0, x_size=w, y_stride=w * dim * eb, x_stride=dim * eb)]
                computes = []
                for oy in range(band, band + ob_act):
                    wy0, wy1 = max(0, oy * sy - pt), min(h, oy * sy - pt + kh)
                    ox = 0
                    while ox < ow:
                        wx0, wx1 = max(0, ox * sx - pl), min(w, ox * sx - pl + kw)
                        run = 1
                        interior = ox * sx - pl >= 0 and ox * sx - pl + kw <= w
                        while interior and ox + run < ow and run < MAX_COUNT:
                            nx = (ox + run) * sx - pl
                            if nx < 0 or nx + kw > w:
                                break
                            run += 1
                        computes.append(Instruction(
                            "VPOOL", mode="max", src_mem=mem, dst_mem=mem,
                            dst=out_base + (oy - band) * ow + ox,
                            src=base + (wy0 - y0) * w + wx0, count=run, dst_stride=1,
                            src_stride=sx, win_h=wy1 - wy0, win_w=wx1 - wx0, win_stride_h=w,
                            win_stride_w=1))
                        ox += run
                stores = [Instruction(
                    "STORE", mem=mem, src=out_base,
                    dram=spec.output.address + ((b * cg + g) * oh + band) * ow * dim * eb,
                    y_size=ob_act, x_size=ow, y_stride=ow * dim * eb, x_stride=dim * eb)]
                steps.append(Step(loads, computes, stores, tile=tile, first_in_tile=True))
                tile += 1
    return steps


def avgpool_steps(builder: ProgramBuilder, spec: AvgPoolSpec) -> list[Step]:
    """Return the steps of average pooling: VPOOL sums into the accumulator, VREQ to int8."""
    cfg = builder.config
    dim = cfg.dim
    n, c, h, w = spec.source.shape
    kh, kw = spec.kernel
    sy, sx = spec.stride
    pt, pl, pb, pr = spec.pads
    oh, ow = spec.out_size
    cg = groups(c, dim)
    xp = pl + w + pr
    n8 = len(spec.int8_outputs)
    if max(kh, kw) > MAX_WINDOW:
        raise CompileError(f"{spec.name}: pooling window {kh}x{kw} exceeds VPOOL's {MAX_WINDOW}")
    half_sp = (cfg.sp_depth - 2 * MAX_XY * n8) // 2
    half_acc = (cfg.acc_depth - 2 - 2 * n8) // 2
    ob = None
    for rows in range(min(oh, MAX_XY), 0, -1):
        yb = (rows - 1) * sy + kh
        if yb <= MAX_XY and yb * xp <= half_sp and rows * ow <= min(half_acc, MAX_XY if n8 else half_acc):
            ob = rows
            break
    if ob is None:
        raise CompileError(f"{spec.name}: no tiling fits the scratchpad")
    params = 2 * n8
    table = np.zeros((max(params, 1), dim), np.int32)
    for v, out in enumerate(spec.int8_outputs):
        table[2 * v], table[2 * v + 1] = out.multiplier[0], out.shift[0]
    param_address = builder.add_constant(table)
    prm_base = cfg.acc_depth - 2 - params
    steps, tile = [], 0
    for b in range(n):
        for band in range(0, oh, ob):
            ob_act = min(ob, oh - band)
            rows = ob_act * ow
            iy_start = band * sy - pt
            iy_end = (band + ob_act - 1) * sy - pt + kh - 1
            pad_top, pad_bottom = max(0, -iy_start), max(0, iy_end - (h - 1))
            y0, y1 = max(iy_start, 0), min(iy_end, h - 1)
            for g in range(cg):
                parity = tile % 2
                base = parity * half_sp
                acc_base = parity * half_acc
                loads = [Instruction(
                    "LOAD", mem="sp", dst=base,
                    dram=spec.source.address + ((b * cg + g) * h + y0) * w * dim,
                    y_size=y1 - y0 + 1, x_size=w, y_stride=w * dim, x_stride=dim,
                    pad_top=pad_top, pad_bottom=pad_bottom, pad_left=pl, pad_right=pr)]
                if tile < 2 and params:
                    loads.append(Instruction("LOAD", mem="acc", dst=prm_base, dram=param_address, y_size=1,
                                             x_size=params, y_stride=0, x_stride=4 * dim))
                computes = [Instruction(
                    "VPOOL", mode="sum", src_mem="sp", dst_mem="acc", dst=acc_base + (oy - band) * ow,
                    src=base + (oy - band) * sy * xp, count=ow, dst_stride=1, src_stride=sx, win_h=kh,
                    win_w=kw, win_stride_h=xp, win_stride_w=1) for oy in range(band, band + ob_act)]
                stores = []
                for v, out in enumerate(spec.int8_outputs):
                    dst = 2 * half_sp + (parity * n8 + v) * MAX_XY
                    computes.append(Instruction(
                        "VREQ", src=acc_base, dst=dst, param=prm_base + 2 * v, count=rows, src_stride=1,
                        dst_stride=1, zero_point=0, lo=out.lo, hi=out.hi))
                    stores.append(Instruction(
                        "STORE", mem="sp", src=dst,
                        dram=out.view.at(b, g, band, dim), y_size=ob_act,
                        x_size=ow, y_stride=ow * dim, x_stride=dim))
                if spec.acc_output is not None:
                    stores.append(Instruction(
                        "STORE", mem="acc", src=acc_base,
                        dram=spec.acc_output.at(b, g, band, dim), y_size=ob_act,
                        x_size=ow, y_stride=ow * dim * 4, x_stride=dim * 4))
                steps.append(Step(loads, computes, stores, tile=tile, first_in_tile=True))
                tile += 1
    return steps
