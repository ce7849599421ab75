"""A fused elementwise chain as one CUDA kernel: one thread per output element.

The chain (see :mod:`kiln.drivers.fusion`) becomes straight-line code in a
grid-stride loop; the only memory traffic is one read per tensor operand and
one f32 write per element. The same generator applies an anchor's epilogue in
place, for anchors whose kernels do not inline it (pooling, Softmax, MVN).
"""

from __future__ import annotations

from kiln.drivers.fusion import Chain
from kiln.drivers.gpu.codegen import HEADER, DeviceChain, compile_kernel, grid_1d


class ElementwiseKernel:
    """Compute ``chain`` into a flat f32 device array ``out`` in one launch.

    With ``in_place`` the chain is an epilogue: operand 0 is read from ``out`` itself.
    """

    def __init__(self, chain: Chain, in_place: bool = False):
        self.chain = DeviceChain(chain, anchor=in_place)
        self.in_place = in_place
        self.kernel = compile_kernel(self.source())

    def source(self) -> str:
        """Return the kernel's Python source for numba.cuda."""
        params = ", ".join(["out"] + self.chain.parameters)
        body, result = self.chain.lines("e", "out[e]" if self.in_place else None, "        ")
        return "\n".join([
            HEADER, "@cuda.jit", f"def kernel({params}):",
            "    start = cuda.grid(1)", "    step = cuda.gridsize(1)",
            f"    for e in range(start, {self.chain.size}, step):", *body,
            f"        out[e] = {result}", ""])

    def port_operands(self):
        """Return the runtime ports the kernel reads besides ``out``, in :meth:`run` order."""
        return self.chain.port_operands()

    def run(self, out, ports: list) -> None:
        """Launch on device array ``out`` (any shape, C-contiguous) with the ports' device arrays."""
        blocks, threads = grid_1d(self.chain.size)
        flat = out.reshape(self.chain.size) if len(out.shape) != 1 else out
        self.kernel[blocks, threads](flat, *self.chain.arguments(ports))
