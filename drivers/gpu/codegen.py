"""Generated CUDA kernel source: compiling it, and elementwise chains as inlined code.

Kernels whose shape or fused epilogue is known only at compile time (fused
elementwise chains, GEMMs with an epilogue, ...) are written as Python source
for ``numba.cuda.jit`` with every size, stride and scalar constant a literal,
then compiled once per distinct source. Every array a generated kernel takes
is 1-D (a flat view of a C-contiguous tensor); it indexes broadcast operands
from the flat output index with literal divisors and strides.
"""

from __future__ import annotations

import hashlib
import linecache
import threading

import numpy as np
from kiln.drivers.fusion import Chain, ChainOp
from kiln.drivers.gpu.device import cuda
from kiln.errors import CompileError
from kiln.ir import Output

HEADER = """import math
import numpy as np
from numba import cuda
f32 = np.float32
F0 = f32(0.0)
F05 = f32(0.5)
F1 = f32(1.0)
"""

def maximum(a: str, b: str) -> str:
    """Return a CUDA expression of the larger of ``a`` and ``b``, NaN if ``a`` or ``b`` is.

    Python's ``max``/``min`` do not compile for numba's CUDA target (numba 0.68), so
    generated code spells them out; the operands should be names, not expressions.
    """
    return f"({a} if {a} > {b} or {a} != {a} else {b})"


def minimum(a: str, b: str) -> str:
    """Return a CUDA expression of the smaller of ``a`` and ``b``, NaN if ``a`` or ``b`` is."""
    return f"({a} if {a} < {b} or {a} != {a} else {b})"


def _clip(x: str, low: str, high: str) -> str:
    return f"({x} if {x} != {x} else ({low} if {x} < {low} else ({high} if {x} > {high} else {x})))"


EXPRESSIONS = {
    "add": "{0} + {1}", "sub": "{0} - {1}", "mul": "{0} * {1}", "div": "{0} / {1}",
    "max": maximum("{0}", "{1}"), "min": minimum("{0}", "{1}"), "pow": "math.pow({0}, {1})",
    "sqdiff": "({0} - {1}) * ({0} - {1})", "prelu": "({0} if {0} >= F0 else {0} * {1})",
    "relu": maximum("{0}", "F0"), "sigmoid": "F1 / (F1 + math.exp(-{0}))", "tanh": "math.tanh({0})",
    "exp": "math.exp({0})", "log": "math.log({0})", "sqrt": "math.sqrt({0})", "abs": "abs({0})",
    "neg": "-{0}", "erf": "math.erf({0})", "floor": "math.floor({0})", "ceil": "math.ceil({0})",
    "clamp": _clip("{0}", "f32({p0!r})", "f32({p1!r})"),
    "elu": "({0} if {0} > F0 else f32({p0!r}) * (math.exp({0}) - F1))",
    "gelu_erf": "F05 * {0} * (F1 + math.erf({0} * f32(0.7071067811865476)))",
    "gelu_tanh": ("F05 * {0} * (F1 + math.tanh(f32(0.7978845608028654) * "
                  "({0} + f32(0.044715) * {0} * {0} * {0})))"),
    "swish": "{0} / (F1 + math.exp(-{0}))",
    "hswish": "{0} * " + _clip("({0} + f32(3.0))", "F0", "f32(6.0)") + " / f32(6.0)",
    "hsigmoid": _clip("({0} + f32(3.0))", "F0", "f32(6.0)") + " / f32(6.0)",
    "softplus": "(math.log1p(math.exp({0})) if {0} < f32(20.0) else {0})",
    "mish": "{0} * math.tanh(math.log1p(math.exp({0})) if {0} < f32(20.0) else {0})",
}
"""Chain op name -> CUDA expression over its arguments ({0}, {1}) and float params ({p0}, {p1})."""

_LOCK = threading.Lock()
_COMPILED: dict[str, object] = {}
_SOURCES: dict[str, str] = {}


def compile_kernel(source: str, name: str = "kernel"):
    """Return function ``name`` of the generated module ``source`` (compiled once per source).

    The source is registered with ``linecache`` so tracebacks and the simulator show its lines.
    """
    digest = hashlib.sha1(source.encode()).hexdigest()[:16]
    with _LOCK:
        if digest not in _COMPILED:
            filename = f"<kiln-gpu-kernel-{digest}>"
            linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
            namespace: dict[str, object] = {}
            exec(compile(source, filename, "exec"), namespace)
            _COMPILED[digest] = namespace[name]
            _SOURCES[digest] = source
        return _COMPILED[digest]


def compiled_sources() -> list[str]:
    """Return the source of every kernel generated in this process so far (for inspection)."""
    with _LOCK:
        return list(_SOURCES.values())


def expression(op: ChainOp, args: list[str]) -> str:
    """Return the CUDA expression of one chain op applied to argument expressions ``args``."""
    template = EXPRESSIONS.get(op.name)
    if template is None:
        raise CompileError(f"no GPU expression for elementwise op {op.name!r}")
    params = {f"p{i}": float(p) for i, p in enumerate(op.params)}
    return template.format(*args, **params)


class DeviceChain:
    """An elementwise chain bound to its output shape, as code inlined into a kernel.

    With ``anchor`` the chain is a kernel's epilogue: operand 0 is the value the
    kernel just computed (passed to :meth:`lines` as an expression). Every other
    operand is a scalar constant (inlined as a literal), a constant tensor
    (uploaded once, when bound) or a runtime port; tensors are read at the
    flat output index with numpy broadcasting. ``parameters`` name the extra
    1-D array arguments the kernel takes, in the order :meth:`arguments` returns them.
    """

    def __init__(self, chain: Chain, anchor: bool):
        if chain.shape is None:
            raise CompileError("an elementwise chain needs a static output shape")
        self.chain = chain
        self.anchor = anchor
        shape = tuple(int(d) for d in chain.shape)
        rank = len(shape)
        self.size = int(np.prod(shape, dtype=np.int64))
        padded = []
        for operand in chain.operands:
            oshape = tuple(int(d) for d in operand.shape)
            if len(oshape) > rank or any(o not in (1, s) for o, s in zip(oshape[::-1], shape[::-1])):
                raise CompileError(f"elementwise operand of shape {oshape} does not broadcast to {shape}")
            padded.append((1,) * (rank - len(oshape)) + oshape)
        # merge adjacent dims over which every operand is present (or absent) alike
        groups: list[list[int]] = []
        for d in (d for d in range(rank) if shape[d] != 1):
            present = tuple(p[d] != 1 for p in padded)
            if groups and tuple(p[groups[-1][-1]] != 1 for p in padded) == present:
                groups[-1].append(d)
            else:
                groups.append([d])
        sizes = [int(np.prod([shape[d] for d in g])) for g in groups]
        inner = [int(np.prod(sizes[k + 1:])) for k in range(len(groups))]
        self.terms: list[list[tuple[int, int, int]]] = []
        """Per operand: (divisor, modulus, stride) of each group it varies over."""
        for p in padded:
            strides = [int(np.prod(p[d + 1:])) for d in range(rank)]
            terms = [(inner[k], sizes[k], strides[g[-1]]) for k, g in enumerate(groups) if p[g[0]] != 1]
            self.terms.append(terms)
        self.inline: dict[int, float] = {}
        self.constants: dict[int, np.ndarray] = {}
        self.ports: list[int] = []
        for i, operand in enumerate(chain.operands):
            if anchor and i == 0:
                continue
            if isinstance(operand, Output):
                self.ports.append(i)
            elif not self.terms[i]:
                self.inline[i] = float(np.asarray(operand, np.float32).reshape(-1)[0])
            else:
                self.constants[i] = np.ascontiguousarray(np.asarray(operand, np.float32)).reshape(-1)
        self.arrays = [i for i in range(len(chain.operands)) if i not in self.inline
                       and not (anchor and i == 0)]
        self.parameters = [f"x{i}" for i in self.arrays]
        self.device_constants = {i: cuda().to_device(v) for i, v in self.constants.items()}

    def port_operands(self) -> list[Output]:
        """Return the runtime ports the chain reads (besides an anchor's own output), in order."""
        return [self.chain.operands[i] for i in self.ports]

    def arguments(self, ports: list) -> list:
        """Return the kernel's extra arguments: flat device arrays of ``ports`` and constants."""
        values = dict(zip(self.ports, ports))
        out = []
        for i in self.arrays:
            value = self.device_constants[i] if i in self.constants else values[i]
            out.append(value.reshape(value.size) if len(value.shape) != 1 else value)
        return out

    def _index(self, operand: int, index: str) -> str:
        if int(np.prod([modulus for _, modulus, _ in self.terms[operand]])) == self.size:
            return index  # the operand has the output's shape
        parts = []
        for divisor, modulus, stride in self.terms[operand]:
            term = f"{index} // {divisor}" if divisor != 1 else index
            if divisor * modulus != self.size:
                term = f"({term}) % {modulus}"
            parts.append(f"({term}) * {stride}" if stride != 1 else f"({term})")
        return " + ".join(parts) or "0"

    def lines(self, index: str, value: str | None, indent: str) -> tuple[list[str], str]:
        """Return code computing the chain at flat output index ``index``, and its result.

        ``value`` is the expression of operand 0 for an anchor chain (else None).
        """
        lines = []
        names: dict[int, str] = {}
        for i in range(len(self.chain.operands)):
            if self.anchor and i == 0:
                lines.append(f"{indent}v0 = f32({value})")
            elif i in self.inline:
                lines.append(f"{indent}v{i} = f32({self.inline[i]!r})")
            else:
                lines.append(f"{indent}v{i} = x{i}[{self._index(i, index)}]")
            names[i] = f"v{i}"
        for k, op in enumerate(self.chain.ops):
            args = [names[a] if a >= 0 else f"t{~a}" for a in op.args]
            lines.append(f"{indent}t{k} = f32({expression(op, args)})")
        result = self.chain.result
        return lines, (names[result] if result >= 0 else f"t{~result}")


THREADS_1D = 128
"""Threads per block of one-thread-per-element kernels."""
MAX_BLOCKS_1D = 4096
"""Most blocks of a grid-stride kernel: beyond this each thread handles several elements."""


def grid_1d(n: int, threads: int = THREADS_1D) -> tuple[int, int]:
    """Return (blocks, threads per block) covering ``n`` elements with a grid-stride loop."""
    return max(1, min(-(-n // threads), MAX_BLOCKS_1D)), threads
