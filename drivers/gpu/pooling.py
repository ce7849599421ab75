"""2-D max and average pooling over NCHW tensors: one thread per output element."""

from __future__ import annotations

from kiln.drivers.cpu.pooling import Pooling as PoolingGeometry
from kiln.drivers.gpu.codegen import HEADER, compile_kernel, grid_1d
from kiln.ir import Node

_POOL = """
@cuda.jit
def kernel(x, out):
    start = cuda.grid(1)
    step = cuda.gridsize(1)
    for e in range(start, {total}, step):
        ow = e % {out_w}
        oh = (e // {out_w}) % {out_h}
        base = (e // {out_plane}) * {plane}
        h0 = oh * {sh} - {ph}
        w0 = ow * {sw} - {pw}
        best = f32(-math.inf)
        acc = F0
        count = 0
        for i in range({kh}):
            ih = h0 + i * {dh}
            if ih >= 0 and ih < {height}:
                for j in range({kw}):
                    iw = w0 + j * {dw}
                    if iw >= 0 and iw < {width}:
                        v = x[base + ih * {width} + iw]
                        if v > best or v != v:
                            best = v
                        acc += v
                        count += 1
{finish}
"""

_MAX = "        out[e] = best"
_AVG_EXCLUDE = "        out[e] = acc / f32(count) if count > 0 else F0"
_AVG_INCLUDE = """        hs = h0 if h0 > -{ph} else -{ph}
        he = h0 + {kh} if h0 + {kh} < {height} + {pe_h} else {height} + {pe_h}
        ws = w0 if w0 > -{pw} else -{pw}
        we = w0 + {kw} if w0 + {kw} < {width} + {pe_w} else {width} + {pe_w}
        count = (he - hs) * (we - ws) if he > hs and we > ws else 0
        out[e] = acc / f32(count) if count > 0 else F0"""


class Pooling:
    """A compiled MaxPool/AvgPool node over a static 4-D f32 input: ``run(x, out)`` on device arrays.

    Window geometry (pads, ceil rounding, the AvgPool divisor) is the CPU kernel's, read once.
    """

    def __init__(self, node: Node):
        geo = PoolingGeometry(node)
        n, c, height, width = (int(d) for d in node.inputs[0].shape)
        out_h, out_w = (int(d) for d in node.output(0).shape[2:])
        (kh, kw), (sh, sw), (ph, pw) = geo.kernel, geo.strides, geo.begins
        dh, dw = geo.dilations if geo.kind == "MaxPool" else (1, 1)
        self.total = n * c * out_h * out_w
        values = dict(total=self.total, out_w=out_w, out_h=out_h, out_plane=out_h * out_w,
                      plane=height * width, sh=sh, sw=sw, ph=ph, pw=pw, kh=kh, kw=kw, dh=dh, dw=dw,
                      height=height, width=width)
        if geo.kind == "MaxPool":
            finish = _MAX
        elif geo.exclude_pad:
            finish = _AVG_EXCLUDE
        else:
            finish = _AVG_INCLUDE.format(pe_h=geo.explicit_ends[0], pe_w=geo.explicit_ends[1], **values)
        self.kernel = compile_kernel(HEADER + _POOL.format(finish=finish, **values))

    def run(self, x, out) -> None:
        blocks, threads = grid_1d(self.total)
        self.kernel[blocks, threads](x.reshape(x.size), out.reshape(out.size))
