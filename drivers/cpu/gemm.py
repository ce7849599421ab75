"""Parallel f32 GEMM: one single-threaded BLAS call per core on a block of the output.

Two measured problems with calling numpy's BLAS from the kernels:

- OpenBLAS's own thread pool spins (``sched_yield``) between calls; interleaved
  with numba's parallel loops on a 2-core machine, that spinning starved the
  kernels between GEMMs (ResNet-50 used 5x the CPU time of a single-threaded run).
- numpy's OpenBLAS picks its kernels by CPU model and falls back to the AVX2
  "Haswell" kernels on AVX-512 CPUs it does not know (e.g. recent AMD EPYC),
  1.5x slower than its "SkylakeX" kernels there.

So Kiln loads a *private* instance of the same OpenBLAS library (a copy of
numpy's, under the kernel cache directory), single-threaded, with the AVX-512
kernels when the CPU has AVX-512F and numpy's instance chose an AVX2 core, and
splits each GEMM into blocks that its own persistent workers and the calling
thread compute at once. numpy's own BLAS is left as the user set it.
Set ``KILN_PRIVATE_BLAS=0`` to use numpy's BLAS (per-thread single-threaded),
``KILN_BLAS_CORETYPE`` to force an OpenBLAS core name.
"""

from __future__ import annotations

import ctypes
import glob
import os
import shutil
import threading

import numpy as np

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112


def _numpy_openblas_path() -> str | None:
    root = os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs")
    paths = sorted(glob.glob(os.path.join(root, "*openblas*.so*")))
    return paths[0] if paths else None


def _symbol(lib, *names):
    for name in names:
        try:
            return getattr(lib, name)
        except AttributeError:
            continue
    return None


def _openblas():
    """Return numpy's OpenBLAS library (ctypes) if it has per-thread thread counts, else None."""
    path = _numpy_openblas_path()
    if path is None:
        return None
    try:
        lib = ctypes.CDLL(path)
        lib.openblas_set_num_threads_local.restype = ctypes.c_int
        lib.openblas_set_num_threads_local.argtypes = [ctypes.c_int]
        return lib
    except (OSError, AttributeError):
        return None


_BLAS = _openblas()


def set_blas_threads(threads: int) -> int | None:
    """Set the calling thread's numpy-BLAS thread count; return the previous one (None if unsupported)."""
    if _BLAS is None:
        return None
    return int(_BLAS.openblas_set_num_threads_local(int(threads)))


def _cpu_has_avx512() -> bool:
    try:
        with open("/proc/cpuinfo") as f:
            return " avx512f" in f.read()
    except OSError:
        return False


def _corename(lib) -> str:
    fn = _symbol(lib, "scipy_openblas_get_corename64_", "openblas_get_corename64_", "openblas_get_corename")
    if fn is None:
        return ""
    fn.restype = ctypes.c_char_p
    return (fn() or b"").decode()


class PrivateBlas:
    """A private, single-threaded OpenBLAS instance: ``sgemm(a, b, out)`` on 2-D f32 arrays."""

    def __init__(self):
        source = _numpy_openblas_path()
        if source is None or _BLAS is None:
            raise OSError("numpy's OpenBLAS library was not found")
        coretype = os.environ.get("KILN_BLAS_CORETYPE")
        avx2_core = _corename(_BLAS).lower() in ("haswell", "zen", "sandybridge")
        if not coretype and avx2_core and _cpu_has_avx512():
            coretype = "SkylakeX"
        from kiln.drivers.cpu.elementwise import kernel_cache_dir

        target = kernel_cache_dir() / f"private_{os.path.basename(source)}"
        if not target.exists() or target.stat().st_size != os.path.getsize(source):
            tmp = target.with_suffix(f".{os.getpid()}.tmp")
            shutil.copyfile(source, tmp)
            os.replace(tmp, target)
        saved = {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS")}
        try:  # read by the library's constructor at load time only
            if coretype:
                os.environ["OPENBLAS_CORETYPE"] = coretype
            os.environ["OPENBLAS_NUM_THREADS"] = "1"
            self.lib = ctypes.CDLL(str(target), mode=ctypes.RTLD_LOCAL)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        self.core = _corename(self.lib)
        fn = _symbol(self.lib, "scipy_cblas_sgemm64_", "cblas_sgemm64_", "cblas_sgemm")
        if fn is None:
            raise OSError(f"{target}: no cblas_sgemm symbol")
        index = ctypes.c_int64 if fn.__name__.endswith("64_") else ctypes.c_int
        fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, index, index, index, ctypes.c_float,
                       ctypes.c_void_p, index, ctypes.c_void_p, index, ctypes.c_float, ctypes.c_void_p, index]
        fn.restype = None
        self._sgemm = fn

    def sgemm_at(self, m: int, n: int, k: int, a: int, lda: int, b: int, ldb: int, out: int,
                 ldc: int) -> None:
        """Compute ``out = a @ b`` on row-major f32 matrices given by address and row pitch (elements).

        No checks: the caller guarantees the shapes, pitches and that the memory stays alive
        (about 1 us per call, against about 5 us for :meth:`sgemm`'s checks and conversions).
        """
        self._sgemm(_ROW_MAJOR, _NO_TRANS, _NO_TRANS, m, n, k, 1.0, a, lda, b, ldb, 0.0, out, ldc)

    @staticmethod
    def _layout(x: np.ndarray):
        """Return (array, transpose flag, leading dimension) for BLAS, copying only if needed."""
        rows, cols = x.shape
        s0, s1 = x.strides
        if s1 == 4 and s0 >= max(cols, 1) * 4 and s0 % 4 == 0:
            return x, _NO_TRANS, s0 // 4
        if s0 == 4 and s1 >= max(rows, 1) * 4 and s1 % 4 == 0:
            return x, _TRANS, s1 // 4
        x = np.ascontiguousarray(x)
        return x, _NO_TRANS, max(cols, 1)

    def sgemm(self, a: np.ndarray, b: np.ndarray, out: np.ndarray, beta: float = 0.0) -> bool:
        """Compute ``out = a @ b + beta * out`` (2-D f32); False (nothing done) if a layout does not fit."""
        m, n = out.shape
        if out.strides[1] != 4 or out.strides[0] % 4 or out.strides[0] < max(n, 1) * 4 \
                or a.dtype != np.float32 or b.dtype != np.float32 or out.dtype != np.float32:
            return False
        k = a.shape[1]
        if m == 0 or n == 0:
            return True
        if k == 0:
            out *= beta
            return True
        a, ta, lda = self._layout(a)
        b, tb, ldb = self._layout(b)
        self._sgemm(_ROW_MAJOR, ta, tb, m, n, k, 1.0, a.ctypes.data, lda, b.ctypes.data, ldb, beta,
                    out.ctypes.data, out.strides[0] // 4)
        return True


def _private_blas() -> PrivateBlas | None:
    if os.environ.get("KILN_PRIVATE_BLAS", "1") == "0":
        return None
    try:
        return PrivateBlas()
    except OSError:
        return None


BLAS = _private_blas()
"""Kiln's private BLAS, or None (then numpy's BLAS runs single-threaded in Kiln's threads)."""


def gemm_block(a: np.ndarray, b: np.ndarray, out: np.ndarray, beta: float = 0.0) -> None:
    """Compute ``out = a @ b (+ out if beta == 1)`` on the calling thread.

    2-D operands, or batched ones with equal leading dims (beta 0 only).
    """
    if beta:
        if BLAS is None or out.ndim != 2 or not BLAS.sgemm(a, b, out, beta):
            out += a @ b
        return
    if BLAS is not None:
        if out.ndim == 2:
            if BLAS.sgemm(a, b, out):
                return
        elif out.ndim == 3 and a.ndim == 3 and b.ndim == 3:
            if all(BLAS.sgemm(a[i], b[i], out[i]) for i in range(out.shape[0])):
                return
    np.matmul(a, b, out=out)


MIN_FLOPS_PER_THREAD = 4_000_000
"""Below this many FLOPs per thread a GEMM runs on the caller alone: waking a worker costs more."""


class GemmTeam:
    """``threads`` threads (the caller plus ``threads - 1`` persistent workers) sharing each GEMM.

    :meth:`matmul` splits ``out = a @ b`` (2-D f32) along its larger output
    dimension; one job at a time runs on the team (concurrent callers queue).
    """

    def __init__(self, threads: int):
        self.threads = max(int(threads), 1)
        self._job_lock = threading.Lock()
        self._work: list[tuple | None] = [None] * self.threads
        self._start = [threading.Event() for _ in range(self.threads)]
        self._done = [threading.Event() for _ in range(self.threads)]
        self._errors: list[BaseException | None] = [None] * self.threads
        for index in range(1, self.threads):
            threading.Thread(target=self._worker, args=(index,), daemon=True,
                             name=f"kiln-gemm-{index}").start()

    def _worker(self, index: int) -> None:
        set_blas_threads(1)
        while True:
            self._start[index].wait()
            self._start[index].clear()
            try:
                fn, args = self._work[index]
                fn(*args)
            except BaseException as error:  # handed to the caller
                self._errors[index] = error
            self._done[index].set()

    def matmul(self, a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
        """Compute ``out[...] = a @ b`` (f32): 2-D, or batched with equal leading dims.

        2-D products split along the larger output dimension, batched ones along the batch.
        """
        batched = out.ndim > 2
        if batched:
            if a.shape[:-2] != out.shape[:-2] or b.shape[:-2] != out.shape[:-2] \
                    or not out.flags.c_contiguous:
                np.matmul(a, b, out=out)
                return
            work = 2 * out.size * a.shape[-1]
            a = a.reshape((-1,) + a.shape[-2:])
            b = b.reshape((-1,) + b.shape[-2:])
            out = out.reshape((-1,) + out.shape[-2:])
            extent, axis = out.shape[0], 0
        else:
            m, n = out.shape
            extent, axis = (m, 0) if m >= n else (n, 1)
            extent = extent // 16
            work = 2 * m * n * a.shape[-1]
        parts = min(self.threads, extent, max(work // MIN_FLOPS_PER_THREAD, 1))
        if parts <= 1 or not self._job_lock.acquire(blocking=False):
            gemm_block(a, b, out)
            return
        try:
            bounds = np.linspace(0, out.shape[0] if axis == 0 else out.shape[1], parts + 1).astype(int)
            blocks = []
            for lo, hi in zip(bounds[:-1], bounds[1:]):
                if batched:
                    blocks.append((a[lo:hi], b[lo:hi], out[lo:hi]))
                elif axis == 0:
                    blocks.append((a[lo:hi], b, out[lo:hi]))
                else:
                    blocks.append((a, b[:, lo:hi], out[:, lo:hi]))
            self._dispatch([(gemm_block, block) for block in blocks])
        finally:
            self._job_lock.release()

    def _dispatch(self, jobs: list[tuple]) -> None:
        """Run ``fn(*args)`` of job 0 on the caller and the others on workers; wait for all."""
        for index in range(1, len(jobs)):
            self._errors[index] = None
            self._done[index].clear()
            self._work[index] = jobs[index]
            self._start[index].set()
        fn, args = jobs[0]
        fn(*args)
        for index in range(1, len(jobs)):
            self._done[index].wait()
            if self._errors[index] is not None:
                raise self._errors[index]

    def run(self, fn, parts: int) -> None:
        """Call ``fn(part, parts)`` for each of ``parts`` (<= threads) parts at once; then return."""
        parts = max(min(parts, self.threads), 1)
        if parts == 1 or not self._job_lock.acquire(blocking=False):
            fn(0, 1)
            return
        try:
            self._dispatch([(fn, (part, parts)) for part in range(parts)])
        finally:
            self._job_lock.release()


_TEAMS: dict[int, GemmTeam] = {}
_TEAMS_LOCK = threading.Lock()


def team(threads: int) -> GemmTeam:
    """Return the process-wide team of ``threads`` threads (created on first use)."""
    with _TEAMS_LOCK:
        if threads not in _TEAMS:
            _TEAMS[threads] = GemmTeam(threads)
        return _TEAMS[threads]
