"""Convolution on the GPU: im2col + the tiled GEMM with its fused epilogue; depthwise directly.

NCHW throughout. An unfold kernel writes each sample's patches as a
``[C_in*kh*kw, H_out*W_out]`` matrix into a workspace buffer, then one GEMM
launch (samples x groups as its batch) multiplies the ``[C_out/G, C_in/G*kh*kw]``
weights of each group by them and writes the NCHW output with the epilogue
applied: two launches per convolution whatever the batch. 1x1 stride-1
unpadded convolutions skip the unfold (the input already is that matrix).
Depthwise convolutions run one thread per output element with the epilogue
inlined.
"""

from __future__ import annotations

import numpy as np
from kiln.drivers.cpu.convolution import ConvGeometry, geometry
from kiln.drivers.fusion import Chain
from kiln.drivers.gpu.codegen import HEADER, DeviceChain, compile_kernel, grid_1d
from kiln.drivers.gpu.device import cuda
from kiln.drivers.gpu.gemm import TILE, Gemm, GemmLayout
from kiln.ir import Node

_UNFOLD = """
@cuda.jit
def kernel(x, cols):
    start = cuda.grid(1)
    step = cuda.gridsize(1)
    for e in range(start, {total}, step):
        x_off = (e // {per_sample}) * {sample_in}
        row = (e // {spatial}) % {rows}
        p = e % {spatial}
        c = row // {kk}
        i = (row // {kw}) % {kh}
        j = row % {kw}
        ih = (p // {out_w}) * {sh} - {ph} + i * {dh}
        iw = (p % {out_w}) * {sw} - {pw} + j * {dw}
        if ih >= 0 and ih < {height} and iw >= 0 and iw < {width}:
            cols[e] = x[x_off + (c * {height} + ih) * {width} + iw]
        else:
            cols[e] = F0
"""


def unfold_source(g: ConvGeometry, batch: int, height: int, width: int) -> str:
    """Return the source of the unfold (im2col) kernel: ``x`` [N, C, H, W] -> ``cols`` [N, C*kh*kw, Ho*Wo]."""
    rows, spatial = g.c_in * g.kh * g.kw, g.out_h * g.out_w
    return HEADER + _UNFOLD.format(total=batch * rows * spatial, per_sample=rows * spatial,
                                   sample_in=g.c_in * height * width, rows=rows, spatial=spatial,
                                   kk=g.kh * g.kw,
                                   kh=g.kh, kw=g.kw, sh=g.sh, sw=g.sw, dh=g.dh, dw=g.dw, ph=g.ph, pw=g.pw,
                                   out_w=g.out_w, height=height, width=width)


def depthwise_source(g: ConvGeometry, batch: int, height: int, width: int, epilogue: DeviceChain | None
                     ) -> str:
    """Return the source of a direct depthwise kernel: one thread per output element."""
    mult = g.c_out // g.c_in
    total = batch * g.c_out * g.out_h * g.out_w
    body, result = epilogue.lines("e", "acc", "        ") if epilogue else ([], "acc")
    params = ", ".join(["x", "w", "out"] + (epilogue.parameters if epilogue else []))
    return "\n".join([
        HEADER, "@cuda.jit", f"def kernel({params}):",
        "    start = cuda.grid(1)", "    step = cuda.gridsize(1)",
        f"    for e in range(start, {total}, step):",
        f"        ow = e % {g.out_w}", f"        oh = (e // {g.out_w}) % {g.out_h}",
        f"        k = (e // {g.out_w * g.out_h}) % {g.c_out}",
        f"        b = e // {g.out_w * g.out_h * g.c_out}",
        f"        x_base = (b * {g.c_in} + k // {mult}) * {height * width}",
        "        acc = F0",
        f"        for i in range({g.kh}):",
        f"            ih = oh * {g.sh} - {g.ph} + i * {g.dh}",
        f"            if ih >= 0 and ih < {height}:",
        f"                for j in range({g.kw}):",
        f"                    iw = ow * {g.sw} - {g.pw} + j * {g.dw}",
        f"                    if iw >= 0 and iw < {width}:",
        f"                        acc += w[(k * {g.kh} + i) * {g.kw} + j] * x[x_base + ih * {width} + iw]",
        *body, f"        out[e] = {result}", ""])


class Convolution:
    """A compiled 2-D Convolution/GroupConvolution (f32, NCHW, constant weights).

    ``run(x, out, workspace, ports)`` writes the result with the epilogue
    ``chain`` applied; ``workspace_elements`` is the f32 scratch one call needs.
    ``weights`` use the OpenVINO layout ([C_out, C_in, kh, kw], or [G, C_out/G,
    C_in/G, kh, kw] for GroupConvolution).
    """

    def __init__(self, node: Node, weights: np.ndarray, chain: Chain | None, tile: int = TILE):
        g = geometry(node, weights.shape)
        self.g = g
        self.batch, _, self.height, self.width = (int(d) for d in node.inputs[0].shape)
        w = np.asarray(weights, np.float32).reshape(g.c_out, -1, g.kh, g.kw)
        self.depthwise = g.groups > 1 and g.groups == g.c_in and w.shape[1] == 1
        self.pointwise = g.kh == g.kw == 1 and g.sh == g.sw == 1 and g.ph == g.pw == 0 \
            and g.out_h == self.height and g.out_w == self.width
        self.w = cuda().to_device(np.ascontiguousarray(w).reshape(-1))
        self.workspace_elements = 0
        if self.depthwise:
            self.epilogue = DeviceChain(chain, anchor=True) if chain is not None else None
            self.kernel = compile_kernel(depthwise_source(g, self.batch, self.height, self.width,
                                                          self.epilogue))
            return
        cig, cog = g.c_in // g.groups, g.c_out // g.groups
        spatial = g.out_h * g.out_w
        kg = cig * g.kh * g.kw
        if self.pointwise:  # B is the input itself: [N, C_in, H*W]
            b_sample = g.c_in * spatial
        else:
            self.unfold = compile_kernel(unfold_source(g, self.batch, self.height, self.width))
            self.workspace_elements = self.batch * g.c_in * g.kh * g.kw * spatial
            b_sample = g.c_in * g.kh * g.kw * spatial
        # group k of sample s: weights rows [k*cog, (k+1)*cog), B rows [k*kg, (k+1)*kg) of sample s,
        # output channels [k*cog, (k+1)*cog) of sample s
        layout = GemmLayout(cog, spatial, kg, self.batch * g.groups, cog * kg, kg, 1, kg * spatial, spatial,
                            1, cog * spatial, groups=g.groups, b_sample=b_sample, c_sample=g.c_out * spatial)
        self.gemm = Gemm(layout, chain, tile)

    def port_operands(self):
        """Return the runtime ports the fused epilogue reads."""
        if self.depthwise:
            return self.epilogue.port_operands() if self.epilogue else []
        return self.gemm.port_operands()

    def run(self, x, out, workspace=None, ports: list = ()) -> None:
        """Compute the convolution of device array ``x`` [N, C_in, H, W] into ``out`` [N, C_out, Ho, Wo]."""
        x_flat = x.reshape(x.size)
        out_flat = out.reshape(out.size)
        if self.depthwise:
            extra = self.epilogue.arguments(list(ports)) if self.epilogue else []
            blocks, threads = grid_1d(out.size)
            self.kernel[blocks, threads](x_flat, self.w, out_flat, *extra)
            return
        if self.pointwise:
            self.gemm.run(self.w, x_flat, out_flat, ports=ports)
            return
        blocks, threads = grid_1d(self.workspace_elements)
        self.unfold[blocks, threads](x_flat, workspace)
        self.gemm.run(self.w, workspace, out_flat, ports=ports)
