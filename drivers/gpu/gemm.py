"""A tiled shared-memory GEMM with a fused elementwise epilogue, generated per use.

``C[z] = A[z] @ B[z]`` for ``z`` in ``range(batch)``: each block of TILE x TILE
threads computes one (TILE*MICRO)^2 tile of C, stepping through K a TILE at a
time; each step stages a (TILE*MICRO) x TILE tile of A and a TILE x (TILE*MICRO)
tile of B in shared memory (MICRO elements of each per thread, then
``syncthreads``), and every thread accumulates a MICRO x MICRO register tile of
outputs (rows ``ty + i*TILE``, columns ``tx + j*TILE``, so loads and stores stay
coalesced along ``tx``) in f32. The epilogue (bias, BatchNorm scale/shift, residual
add, activation: a :class:`~kiln.drivers.fusion.Chain`) is applied to the
accumulator before the single f32 store, at the element's flat index in the
output tensor, so no second pass over C is needed.

Operands are flat 1-D device arrays addressed by element strides, so one
kernel serves plain and transposed MatMul, batched MatMul with broadcast
(batch stride 0), and convolution (weights x unfolded input, one launch per
sample with the groups as the batch).
"""

from __future__ import annotations

import dataclasses

from kiln.drivers.fusion import Chain
from kiln.drivers.gpu.codegen import HEADER, DeviceChain, compile_kernel
from kiln.errors import CompileError

TILE = 16
"""Default thread-block edge (threads per block = TILE * TILE)."""
MICRO = 2
"""Default micro-tile edge: each thread computes MICRO x MICRO outputs, a block a
(TILE*MICRO)^2 tile of C, so each value loaded from shared memory feeds MICRO multiply-adds."""


@dataclasses.dataclass(frozen=True)
class GemmLayout:
    """Sizes and element strides of one batched GEMM over flat arrays.

    ``A[z, i, k]`` is at ``a_off + z*a_batch + i*a_row + k*a_col`` (``a_off`` given
    at launch), likewise B; ``C[z, i, j]`` is at ``c_off + z*c_batch + i*n + j``:
    C rows are contiguous, and that address is the flat output index the
    epilogue sees. With ``groups`` > 0 the batch index splits into a sample
    ``z // groups`` and a group ``z % groups``: the group is strided by
    ``*_batch`` and the sample by ``*_sample`` (a grouped convolution of a whole
    batch of samples in one launch).
    """

    m: int
    n: int
    k: int
    batch: int
    a_batch: int
    a_row: int
    a_col: int
    b_batch: int
    b_row: int
    b_col: int
    c_batch: int
    groups: int = 0
    a_sample: int = 0
    b_sample: int = 0
    c_sample: int = 0

    def __post_init__(self):
        if min(self.m, self.n, self.k, self.batch) < 1:
            raise CompileError(f"GEMM of empty sizes m={self.m} n={self.n} k={self.k} batch={self.batch}")


class Gemm:
    """A compiled GEMM of one :class:`GemmLayout` with an optional epilogue chain.

    ``chain`` (if any) is an anchor chain whose operand 0 is C's value; its
    shape is the whole output tensor's.
    """

    def __init__(self, layout: GemmLayout, chain: Chain | None = None, tile: int = TILE, micro: int = MICRO):
        if tile < 1 or tile > 32:
            raise CompileError(f"GEMM tile {tile} must be 1..32 (threads per block = tile^2 <= 1024)")
        if micro < 1 or micro > 8:
            raise CompileError(f"GEMM micro-tile {micro} must be 1..8 (outputs per thread = micro^2)")
        self.layout = layout
        self.tile = tile
        self.micro = micro
        self.epilogue = DeviceChain(chain, anchor=True) if chain is not None else None
        self.kernel = compile_kernel(self.source())

    def source(self) -> str:
        """Return the kernel's Python source for numba.cuda (the micro-tile loops unrolled)."""
        g, t, r = self.layout, self.tile, self.micro
        edge = t * r
        extra = self.epilogue.parameters if self.epilogue else []
        params = ", ".join(["a", "b", "c", "a_off", "b_off", "c_off"] + extra)
        lines = [HEADER, "@cuda.jit", f"def kernel({params}):",
                 f"    sa = cuda.shared.array(({edge}, {t}), np.float32)",
                 f"    sb = cuda.shared.array(({t}, {edge}), np.float32)",
                 "    tx = cuda.threadIdx.x", "    ty = cuda.threadIdx.y", "    z = cuda.blockIdx.z",
                 f"    row0 = cuda.blockIdx.y * {edge} + ty", f"    col0 = cuda.blockIdx.x * {edge} + tx",
                 *self._bases()]
        lines += [f"    acc{i}_{j} = F0" for i in range(r) for j in range(r)]
        lines += [f"    for k0 in range(0, {g.k}, {t}):", "        ka = k0 + tx", "        kb = k0 + ty"]
        for i in range(r):  # this thread's rows of the A tile: ty, ty + t, ...
            row = f"row0 + {i * t}" if i else "row0"
            lines += [f"        if {row} < {g.m} and ka < {g.k}:",
                      f"            sa[ty + {i * t}, tx] = a[a_base + ({row}) * {g.a_row} + ka * {g.a_col}]",
                      "        else:", f"            sa[ty + {i * t}, tx] = F0"]
        for j in range(r):  # this thread's columns of the B tile: tx, tx + t, ...
            col = f"col0 + {j * t}" if j else "col0"
            lines += [f"        if kb < {g.k} and {col} < {g.n}:",
                      f"            sb[ty, tx + {j * t}] = b[b_base + kb * {g.b_row} + ({col}) * {g.b_col}]",
                      "        else:", f"            sb[ty, tx + {j * t}] = F0"]
        lines += ["        cuda.syncthreads()", f"        for kk in range({t}):"]
        lines += [f"            a{i} = sa[ty + {i * t}, kk]" for i in range(r)]
        lines += [f"            b{j} = sb[kk, tx + {j * t}]" for j in range(r)]
        lines += [f"            acc{i}_{j} += a{i} * b{j}" for i in range(r) for j in range(r)]
        lines.append("        cuda.syncthreads()")
        for i in range(r):
            for j in range(r):
                row = f"row0 + {i * t}" if i else "row0"
                col = f"col0 + {j * t}" if j else "col0"
                lines += [f"    if {row} < {g.m} and {col} < {g.n}:",
                          f"        e = c_base + ({row}) * {g.n} + {col}"]
                if self.epilogue:
                    body, result = self.epilogue.lines("e", f"acc{i}_{j}", "        ")
                    lines += body
                else:
                    result = f"acc{i}_{j}"
                lines.append(f"        c[e] = {result}")
        return "\n".join(lines) + "\n"

    def _bases(self) -> list[str]:
        """Return the lines computing this block's A, B and C base offsets from ``z``."""
        g = self.layout
        if g.groups <= 0 or g.groups >= g.batch:
            return [f"    a_base = a_off + z * {g.a_batch}", f"    b_base = b_off + z * {g.b_batch}",
                    f"    c_base = c_off + z * {g.c_batch}"]
        return [f"    zs = z // {g.groups}", f"    zg = z % {g.groups}",
                f"    a_base = a_off + zg * {g.a_batch} + zs * {g.a_sample}",
                f"    b_base = b_off + zg * {g.b_batch} + zs * {g.b_sample}",
                f"    c_base = c_off + zg * {g.c_batch} + zs * {g.c_sample}"]

    def port_operands(self):
        """Return the runtime ports the epilogue reads, in :meth:`run` order."""
        return self.epilogue.port_operands() if self.epilogue else []

    def run(self, a, b, c, a_off: int = 0, b_off: int = 0, c_off: int = 0, ports: list = ()) -> None:
        """Launch on flat f32 device arrays ``a``, ``b``, ``c`` at element offsets (see GemmLayout)."""
        g, t = self.layout, self.tile
        edge = t * self.micro
        extra = self.epilogue.arguments(list(ports)) if self.epilogue else []
        grid = (-(-g.n // edge), -(-g.m // edge), g.batch)
        self.kernel[grid, (t, t)](a, b, c, a_off, b_off, c_off, *extra)
