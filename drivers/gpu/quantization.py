"""FakeQuantize on the device: one thread per element, range constants broadcast like a chain's.

Matches the IR reference: values at or below ``min(il, ih)`` map to ``ol``, above
``max(il, ih)`` to ``oh``, others to ``round((x - il) / (ih - il) * (levels - 1))
/ (levels - 1) * (oh - ol) + ol`` in f32, rounding half to even.
"""

from __future__ import annotations

import numpy as np
from kiln.drivers.fusion import Chain
from kiln.drivers.gpu.codegen import HEADER, DeviceChain, compile_kernel, grid_1d, maximum, minimum
from kiln.errors import CompileError
from kiln.ir import Node


class FakeQuantize:
    """A compiled FakeQuantize with constant ranges over a static f32 tensor: ``run(x, out)``."""

    def __init__(self, node: Node, constants: dict):
        ranges = [constants.get(p) for p in node.inputs[1:5]]
        if len(ranges) != 4 or any(r is None for r in ranges):
            raise CompileError(f"node {node.name!r}: FakeQuantize ranges must be constant on the GPU")
        if str(node.attrs.get("auto_broadcast", "numpy")).lower() not in ("numpy", "none"):
            raise CompileError(f"node {node.name!r}: FakeQuantize auto_broadcast must be numpy")
        shape = tuple(int(d) for d in node.output(0).shape)
        operands = [node.inputs[0]] + [np.asarray(r, np.float32) for r in ranges]
        self.chain = DeviceChain(Chain(operands, [], shape), anchor=False)
        self.size = self.chain.size
        steps = float(int(node.attrs["levels"]) - 1)
        loads, _ = self.chain.lines("e", None, "        ")
        params = ", ".join(["out"] + self.chain.parameters)
        self.kernel = compile_kernel("\n".join([
            HEADER, "@cuda.jit", f"def kernel({params}):", "    start = cuda.grid(1)",
            "    step = cuda.gridsize(1)", f"    for e in range(start, {self.size}, step):", *loads,
            f"        if v0 <= {minimum('v1', 'v2')}:", "            r = v3",
            f"        elif v0 > {maximum('v1', 'v2')}:",
            "            r = v4", "        else:",
            f"            y = (v0 - v1) / (v2 - v1) * f32({steps!r})",
            "            q = f32(math.floor(y))",  # half to even, spelled out: same on GPU and simulator
            "            d = y - q",
            "            if d > F05 or (d == F05 and math.fmod(q, f32(2.0)) != F0):",
            "                q += F1",
            f"            r = q / f32({steps!r}) * (v4 - v3) + v3",
            "        out[e] = r", ""]))

    def run(self, x, out) -> None:
        blocks, threads = grid_1d(self.size)
        self.kernel[blocks, threads](out.reshape(out.size), *self.chain.arguments([x]))
