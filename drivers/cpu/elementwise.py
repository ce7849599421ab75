"""Fused elementwise chains as one numba loop each.

A chain (see :mod:`kiln.drivers.fusion`) is bound to concrete shapes once, at
compile time: the output shape is coalesced into one or two loop dimensions and
every operand is classified as *full* (one value per element), *row* (one per
outer index), *col* (one per inner index) or *scalar*. The loop source is
generated from the chain and the operand classes, written to the kernel cache
directory and compiled by numba with ``cache=True``, so the same chain costs one
compile per machine, not one per process. Scalar constants are inlined.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np
from kiln.drivers.fusion import Chain, ChainOp
from kiln.errors import CompileError
from kiln.ir import Output

_EXPRESSIONS = {
    "add": "{0} + {1}", "sub": "{0} - {1}", "mul": "{0} * {1}", "div": "{0} / {1}",
    "max": "max({0}, {1})", "min": "min({0}, {1})", "pow": "{0} ** {1}",
    "sqdiff": "({0} - {1}) * ({0} - {1})", "prelu": "({0} if {0} >= 0 else {0} * {1})",
    "relu": "max({0}, F0)", "sigmoid": "F1 / (F1 + math.exp(-{0}))", "tanh": "math.tanh({0})",
    "exp": "math.exp({0})", "log": "math.log({0})", "sqrt": "math.sqrt({0})", "abs": "abs({0})",
    "neg": "-{0}", "erf": "erf32({0})", "floor": "math.floor({0})", "ceil": "math.ceil({0})",
    "clamp": "min(max({0}, f32({p0!r})), f32({p1!r}))",
    "elu": "({0} if {0} > 0 else f32({p0!r}) * (math.exp({0}) - F1))",
    "gelu_erf": "F05 * {0} * (F1 + erf32({0} * f32(0.7071067811865476)))",
    "gelu_tanh": ("F05 * {0} * (F1 + math.tanh(f32(0.7978845608028654) * "
                  "({0} + f32(0.044715) * {0} * {0} * {0})))"),
    "swish": "{0} / (F1 + math.exp(-{0}))",
    "hswish": "{0} * min(max({0} + f32(3.0), F0), f32(6.0)) / f32(6.0)",
    "hsigmoid": "min(max({0} + f32(3.0), F0), f32(6.0)) / f32(6.0)",
    "softplus": "(math.log1p(math.exp({0})) if {0} < 20 else {0})",
    "mish": "{0} * math.tanh(math.log1p(math.exp({0})) if {0} < 20 else {0})",
}

_HEADER = """import math
import numba
import numpy as np
f32 = np.float32
F0 = f32(0.0)
F05 = f32(0.5)
F1 = f32(1.0)


@numba.njit(inline="always", fastmath=True)
def exp_nonpositive(t):
    # exp(t) for t <= 0 without libm, so loops using it vectorize: t = n*ln2 + r, Cephes expf's
    # polynomial for exp(r) (about 1 ulp), times 2^n as a product of 2^-(2^b) for the bits b of -n;
    # 0 below -87.33 (where f32 exp is 0 or subnormal)
    u = f32(-87.33654) if t < f32(-87.33654) else t
    n = math.floor(u * f32(1.4426950408889634) + F05)
    r = u - n * f32(0.693359375) - n * f32(-2.12194440e-4)
    p = f32(1.9875691500e-4) * r + f32(1.3981999507e-3)
    p = p * r + f32(8.3334519073e-3)
    p = p * r + f32(4.1665795894e-2)
    p = p * r + f32(1.6666665459e-1)
    p = p * r + f32(5.0000001201e-1)
    e = p * r * r + r + F1
    k = np.int32(-n)
    e *= f32(0.5) if k & 1 else F1
    e *= f32(0.25) if k & 2 else F1
    e *= f32(0.0625) if k & 4 else F1
    e *= f32(0.00390625) if k & 8 else F1
    e *= f32(1.52587890625e-05) if k & 16 else F1
    e *= f32(2.3283064365386963e-10) if k & 32 else F1
    e *= f32(5.421010862427522e-20) if k & 64 else F1
    return F0 if t < f32(-87.33654) else e


@numba.njit(inline="always", fastmath=True)
def erf32(x):
    # Abramowitz & Stegun 7.1.26: |error| < 1.5e-7, below f32 resolution near 1; 2x faster than libm erff
    z = abs(x)
    t = F1 / (F1 + f32(0.3275911) * z)
    p = ((((f32(1.061405429) * t - f32(1.453152027)) * t + f32(1.421413741)) * t - f32(0.284496736)) * t
         + f32(0.254829592)) * t
    y = F1 - p * exp_nonpositive(-z * z)
    return y if x >= 0 else -y
"""

_LOCK = threading.Lock()
_LOADED: dict[str, object] = {}


def kernel_cache_dir() -> Path:
    """Return the directory generated kernel sources (and numba's caches) live in.

    ``$KILN_KERNEL_CACHE``, else ``$XDG_CACHE_HOME/kiln/cpu-kernels`` (``~/.cache/...``);
    a per-user directory under the system temp dir when that one is not writable.
    """
    root = os.environ.get("KILN_KERNEL_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "kiln", "cpu-kernels")
    for path in (Path(root), Path(tempfile.gettempdir()) / f"kiln-cpu-kernels-{os.getuid()}"):
        try:
            path.mkdir(parents=True, exist_ok=True)
            if os.access(path, os.W_OK):
                return path
        except OSError:
            continue
    raise CompileError(f"no writable directory for CPU kernels ({root}); set KILN_KERNEL_CACHE")


def load_kernel(source: str, name: str = "kernel"):
    """Compile generated ``source`` (a module defining ``name``) once; return the function.

    The source is stored under :func:`kernel_cache_dir` by its hash so numba's
    on-disk cache (``cache=True``) serves later processes.
    """
    digest = hashlib.sha1(source.encode()).hexdigest()[:16]
    with _LOCK:
        if digest in _LOADED:
            return _LOADED[digest]
        path = kernel_cache_dir() / f"k_{digest}.py"
        if not path.exists() or path.read_text() != source:
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            with os.fdopen(fd, "w") as f:
                f.write(source)
            os.replace(tmp, path)
        module_name = f"kiln_cpu_kernel_{digest}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
        _LOADED[digest] = getattr(module, name)
        return _LOADED[digest]


def _expression(op: ChainOp, args: list[str]) -> str:
    template = _EXPRESSIONS.get(op.name)
    if template is None:
        raise CompileError(f"no CPU expression for elementwise op {op.name!r}")
    params = {f"p{i}": float(p) for i, p in enumerate(op.params)}
    return template.format(*args, **params)


class BoundChain:
    """A chain bound to its shapes: ``run(out, runtime_values)`` computes it in one loop.

    ``runtime_values`` are the arrays of the chain's port operands, in operand
    order; ``out`` is a C-contiguous f32 array of the chain's shape (it may be
    the same array as an operand: the loop reads each element before writing it).
    """

    def __init__(self, chain: Chain):
        self.chain = chain
        shape = tuple(chain.shape)
        rank = len(shape)
        padded = []
        for operand in chain.operands:
            oshape = tuple(operand.shape)
            if len(oshape) > rank:
                raise CompileError(f"elementwise operand of shape {oshape} exceeds output rank {rank}")
            padded.append((1,) * (rank - len(oshape)) + oshape)
        dims = [d for d in range(rank) if shape[d] != 1]
        # coalesce adjacent dims where every operand is present (or absent) on both
        groups: list[list[int]] = []
        for d in dims:
            present = tuple(p[d] != 1 for p in padded)
            if groups and tuple(p[groups[-1][-1]] != 1 for p in padded) == present:
                groups[-1].append(d)
            else:
                groups.append([d])
        if len(groups) > 2:
            groups = [sum(groups[:-1], []), groups[-1]]
        self.groups = groups
        self.size = int(np.prod(shape, dtype=np.int64))
        self.loop_shape = tuple(int(np.prod([shape[d] for d in g])) for g in groups) or (1,)
        self.kinds: list[str] = []
        self.targets: list[tuple[int, ...]] = []
        for p in padded:
            present = [any(p[d] != 1 for d in g) for g in groups]
            if len(groups) <= 1:
                kind = "full" if present and present[0] else "scalar"
            else:
                kind = {(True, True): "full", (True, False): "row", (False, True): "col",
                        (False, False): "scalar"}[tuple(present)]
            target = tuple(shape[d] if any(d in g and pres for g, pres in zip(groups, present)) else 1
                           for d in range(rank))
            self.kinds.append(kind)
            self.targets.append(target)
        self.inline: dict[int, float] = {}
        self.bound_constants: dict[int, np.ndarray] = {}
        for i, operand in enumerate(chain.operands):
            if isinstance(operand, Output):
                continue
            if self.kinds[i] == "scalar":
                self.inline[i] = float(np.asarray(operand).reshape(-1)[0])
            else:
                self.bound_constants[i] = self.prepare(i, np.asarray(operand, np.float32))
        self.port_indices = [i for i, o in enumerate(chain.operands) if isinstance(o, Output)]
        self.array_indices = [i for i in range(len(chain.operands)) if i not in self.inline]
        self.kernel = load_kernel(self.source())

    def prepare(self, index: int, value: np.ndarray) -> np.ndarray:
        """Return operand ``index`` as the contiguous 1-D/2-D array its class reads."""
        padded = value.reshape((1,) * (len(self.chain.shape) - value.ndim) + value.shape)
        if padded.shape != self.targets[index]:
            padded = np.broadcast_to(padded, self.targets[index])
        kind = self.kinds[index]
        if kind == "full":
            flat = padded.reshape(self.loop_shape) if padded.flags.c_contiguous \
                else np.ascontiguousarray(padded).reshape(self.loop_shape)
        elif kind == "row":
            flat = np.ascontiguousarray(padded).reshape(self.loop_shape[0])
        elif kind == "col":
            flat = np.ascontiguousarray(padded).reshape(self.loop_shape[-1])
        else:
            flat = np.ascontiguousarray(padded).reshape(1)
        if flat.dtype != np.float32:
            flat = flat.astype(np.float32)
        return flat

    def source(self) -> str:
        """Return the numba module source of this chain's loop."""
        two_d = len(self.loop_shape) == 2
        names = [f"a{i}" for i in self.array_indices]
        lines = [_HEADER, "@numba.njit(parallel=True, cache=True, nogil=True, error_model='numpy')",
                 f"def kernel(out, {', '.join(names)}):" if names else "def kernel(out):"]
        load = {}
        if two_d:
            lines.append("    R, C = out.shape")
            lines.append("    for r in numba.prange(R):")
            indent = "        "
            for i in self.array_indices:
                if self.kinds[i] == "row":
                    lines.append(f"{indent}r{i} = a{i}[r]")
                    load[i] = f"r{i}"
                elif self.kinds[i] == "scalar":
                    lines.append(f"{indent}r{i} = a{i}[0]")
                    load[i] = f"r{i}"
            lines.append(f"{indent}for c in range(C):")
            indent += "    "
            for i in self.array_indices:
                if self.kinds[i] == "full":
                    load[i] = f"a{i}[r, c]"
                elif self.kinds[i] == "col":
                    load[i] = f"a{i}[c]"
            store = "out[r, c]"
        else:
            lines.append("    for e in numba.prange(out.shape[0]):")
            indent = "        "
            for i in self.array_indices:
                load[i] = f"a{i}[e]" if self.kinds[i] == "full" else f"a{i}[0]"
            store = "out[e]"
        for i, value in self.inline.items():
            load[i] = f"f32({value!r})"
        values = {}
        for i in range(len(self.chain.operands)):
            lines.append(f"{indent}v{i} = {load[i]}")
            values[i] = f"v{i}"
        for k, op in enumerate(self.chain.ops):
            args = [values[a] if a >= 0 else f"t{~a}" for a in op.args]
            lines.append(f"{indent}t{k} = f32({_expression(op, args)})")
        result = self.chain.result
        lines.append(f"{indent}{store} = {values[result] if result >= 0 else f't{~result}'}")
        return "\n".join(lines) + "\n"

    def calls(self, out: np.ndarray, ports: list[np.ndarray]):
        """Return ``[(fn, args)]`` computing the chain into ``out`` from ``ports`` by reference, or None.

        None when an operand would first be copied (broadcast, converted or not contiguous):
        a call holding such a copy would read stale values once the port's array changes.
        """
        arrays = []
        values = dict(zip(self.port_indices, ports))
        for i in self.array_indices:
            if i in self.bound_constants:
                arrays.append(self.bound_constants[i])
                continue
            prepared = self.prepare(i, values[i])
            if not np.may_share_memory(prepared, values[i]):  # a copy, or a view of a temporary one
                return None
            arrays.append(prepared)
        return [(self.kernel, (out.reshape(self.loop_shape), *arrays))]

    def run(self, out: np.ndarray, ports: list[np.ndarray]) -> None:
        """Compute the chain into ``out``; ``ports`` are the port operands' values in order."""
        arrays = []
        values = dict(zip(self.port_indices, ports))
        for i in self.array_indices:
            if i in self.bound_constants:
                arrays.append(self.bound_constants[i])
            else:
                arrays.append(self.prepare(i, values[i]))
        self.kernel(out.reshape(self.loop_shape), *arrays)
