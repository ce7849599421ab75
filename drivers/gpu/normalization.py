"""Row-wise Softmax, MVN (layer-norm style) and ReduceSum/Mean/Max/Min as block reductions.

One block per row.

The reduced axes are the trailing ones, so a row is contiguous. The threads of
a block stride over the row's columns, combine their partial results with a
tree reduction in shared memory (max, then sum of exponentials for Softmax;
sum, then sum of squared deviations for MVN), and write the normalized row.
Statistics accumulate in f32; MVN's are in f64 on the CPU, so the two agree to
f32 rounding of a row's sum.
"""

from __future__ import annotations

import numpy as np
from kiln.drivers.cpu.normalization import RowNormalization as RowGeometry
from kiln.drivers.cpu.normalization import trailing_split
from kiln.drivers.gpu.codegen import HEADER, compile_kernel, maximum, minimum
from kiln.errors import CompileError
from kiln.ir import Node

MAX_THREADS = 128
"""Threads per block (per row) at most; fewer, a power of two >= 32, for short rows."""

_REDUCE = """
    part[t] = {value}
    cuda.syncthreads()
    s = {threads} // 2
    while s > 0:
        if t < s:
            a = part[t]
            b = part[t + s]
            part[t] = {combine}
        cuda.syncthreads()
        s //= 2
    {name} = part[0]
    cuda.syncthreads()"""

_SOFTMAX = """
@cuda.jit
def kernel(x, out):
    part = cuda.shared.array({threads}, np.float32)
    t = cuda.threadIdx.x
    base = cuda.blockIdx.x * {cols}
    m = f32(-math.inf)
    for c in range(t, {cols}, {threads}):
        v = x[base + c]
        m = {max_mv}
{reduce_max}
    total = F0
    for c in range(t, {cols}, {threads}):
        total += math.exp(x[base + c] - row_max)
{reduce_sum}
    inv = F1 / row_sum
    for c in range(t, {cols}, {threads}):
        out[base + c] = math.exp(x[base + c] - row_max) * inv
"""

_MVN = """
@cuda.jit
def kernel(x, out):
    part = cuda.shared.array({threads}, np.float32)
    t = cuda.threadIdx.x
    base = cuda.blockIdx.x * {cols}
    total = F0
    for c in range(t, {cols}, {threads}):
        total += x[base + c]
{reduce_sum}
    mean = row_sum / f32({cols})
    scale = F1
    if {normalize_variance}:
        sq = F0
        for c in range(t, {cols}, {threads}):
            d = x[base + c] - mean
            sq += d * d
{reduce_sq}
        var = row_sq / f32({cols})
        if {inside_sqrt}:
            scale = F1 / math.sqrt(var + f32({eps!r}))
        else:
            scale = F1 / (math.sqrt(var) + f32({eps!r}))
    for c in range(t, {cols}, {threads}):
        out[base + c] = (x[base + c] - mean) * scale
"""


_REDUCTION = """
@cuda.jit
def kernel(x, out):
    part = cuda.shared.array({threads}, np.float32)
    t = cuda.threadIdx.x
    base = cuda.blockIdx.x * {cols}
    acc = {identity}
    for c in range(t, {cols}, {threads}):
        v = x[base + c]
        acc = {combine_x}
{reduce}
    if t == 0:
        out[cuda.blockIdx.x] = {finish}
"""

REDUCTIONS = {  # op: (identity, combine(a, b), finish(total))
    "ReduceSum": ("F0", "{a} + {b}", "{r}"),
    "ReduceMean": ("F0", "{a} + {b}", "{r} / f32({cols})"),
    "ReduceMax": ("f32(-math.inf)", maximum("{a}", "{b}"), "{r}"),
    "ReduceMin": ("f32(math.inf)", minimum("{a}", "{b}"), "{r}"),
}
"""Reductions over trailing axes the GPU runs, as (identity, combine, finish) code templates."""


def _reduce(value: str, combine: str, name: str, threads: int, indent: str) -> str:
    text = _REDUCE.format(value=value, combine=combine, name=name, threads=threads)
    return "\n".join(indent + line[4:] if line.strip() else line for line in text.splitlines()[1:])


class RowNormalization:
    """A compiled Softmax or MVN node over trailing axes: ``run(x, out)`` on device arrays."""

    def __init__(self, node: Node, constants: dict):
        geo = RowGeometry(node, constants)
        self.rows, cols = geo.rows_shape
        threads = 32
        while threads < min(cols, MAX_THREADS):
            threads *= 2
        self.threads = threads
        if geo.kind == "Softmax":
            source = _SOFTMAX.format(
                threads=threads, cols=cols,
                max_mv=maximum("m", "v"),
                reduce_max=_reduce("m", maximum("a", "b"), "row_max", threads, "    "),
                reduce_sum=_reduce("total", "a + b", "row_sum", threads, "    "))
        else:
            source = _MVN.format(
                threads=threads, cols=cols, normalize_variance=geo.normalize_variance,
                inside_sqrt=geo.inside_sqrt, eps=float(geo.eps),
                reduce_sum=_reduce("total", "a + b", "row_sum", threads, "    "),
                reduce_sq=_reduce("sq", "a + b", "row_sq", threads, "        "))
        self.kernel = compile_kernel(HEADER + source)

    def run(self, x, out) -> None:
        self.kernel[self.rows, self.threads](x.reshape(x.size), out.reshape(out.size))


def reduction_rows(node: Node, constants: dict) -> tuple[int, int]:
    """Return (rows, columns) of a ReduceSum/Mean/Max/Min over constant, trailing, non-empty axes."""
    axes = constants.get(node.inputs[1])
    if axes is None or np.size(axes) == 0:
        raise CompileError(f"node {node.name!r}: the GPU reduces constant, non-empty axes only")
    shape = [int(d) for d in node.inputs[0].shape]
    keep = trailing_split(node, [int(a) for a in np.asarray(axes).reshape(-1)])
    rows, cols = int(np.prod(shape[:keep], dtype=np.int64)), int(np.prod(shape[keep:], dtype=np.int64))
    if rows == 0 or cols == 0:
        raise CompileError(f"node {node.name!r}: empty rows")
    return rows, cols


class RowReduction:
    """A compiled ReduceSum/Mean/Max/Min over trailing axes (f32, static): ``run(x, out)``."""

    def __init__(self, node: Node, constants: dict):
        self.rows, cols = reduction_rows(node, constants)
        identity, combine, finish = REDUCTIONS[node.type_name]
        threads = 32
        while threads < min(cols, MAX_THREADS):
            threads *= 2
        self.threads = threads
        source = _REDUCTION.format(
            threads=threads, cols=cols, identity=identity,
            combine_x=combine.format(a="acc", b="v"),
            reduce=_reduce("acc", combine.format(a="a", b="b"), "total", threads, "    "),
            finish=finish.format(r="total", cols=cols))
        self.kernel = compile_kernel(HEADER + source)

    def run(self, x, out) -> None:
        self.kernel[self.rows, self.threads](x.reshape(x.size), out.reshape(out.size))
