"""Parallel f32 GEMM: single-threaded BLAS calls on blocks of the output, one per numba thread.

Two measured problems with calling numpy's BLAS from the kernels:

- OpenBLAS's own thread pool spins (``sched_yield``) between calls; interleaved
  with numba's parallel loops on a 2-core machine, that spinning starved the
  kernels between GEMMs (ResNet-50 used 5x the CPU time of a single-threaded run).
- numpy's OpenBLAS picks its kernels by CPU model and falls back to the AVX2
  "Haswell" kernels on AVX-512 CPUs it does not know (e.g. recent AMD EPYC),
  1.5x slower than its "SkylakeX" kernels there.

So Kiln loads a *private* instance of the same OpenBLAS library (a copy of
numpy's, under the kernel cache directory), single-threaded, with the AVX-512
kernels when the CPU has AVX-512F and numpy's instance chose an AVX2 core. Its
``cblas_sgemm`` is called from compiled numba code: :func:`parallel_sgemm` splits
one product into row or column blocks inside a ``prange``, so every parallel
step of an inference (GEMMs, unfolding, elementwise loops, pooling) runs on the
same numba/OpenMP team and no second thread pool competes for the cores. A
parallel region costs about 1-2 us, against 20-50 us to wake a Python worker.
numpy's own BLAS is left as the user set it. Set ``KILN_PRIVATE_BLAS=0`` to use
numpy's BLAS (single-threaded per calling thread), ``KILN_BLAS_CORETYPE`` to force
an OpenBLAS core name.
"""

from __future__ import annotations

import ctypes
import glob
import os
import shutil

import numba
import numpy as np

_NO_TRANS, _TRANS = 111, 112


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
    """A private, single-threaded OpenBLAS instance; :attr:`kernel` is its ``cblas_sgemm``."""

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
        address = ctypes.c_int64  # numba passes the matrices as integer addresses
        prototype = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_int, ctypes.c_int, index, index, index,
                                     ctypes.c_float, address, index, address, index, ctypes.c_float,
                                     address, index)
        self.kernel = prototype(ctypes.cast(fn, ctypes.c_void_p).value)
        """``cblas_sgemm`` as a function pointer numba-compiled code calls (matrices by address)."""


def _private_blas() -> PrivateBlas | None:
    if os.environ.get("KILN_PRIVATE_BLAS", "1") == "0":
        return None
    try:
        return PrivateBlas()
    except OSError:
        return None


BLAS = _private_blas()
"""Kiln's private BLAS, or None (then numpy's BLAS runs single-threaded in Kiln's threads)."""


MIN_FLOPS_PER_THREAD = 1_000_000
"""Below this many FLOPs per thread a GEMM runs on one thread: a block would cost more to hand out.

Measured with numba's OpenMP team (about 1-2 us per parallel region): a 64x3025x16 product
(6.2 MFLOP) gains nothing from a second thread, 16x3025x128 (12 MFLOP) gains 1.6x."""

COLUMN_ALIGN = 16
"""Column blocks start at multiples of 16 floats (one AVX-512 vector)."""


@numba.njit(parallel=True, cache=True, nogil=True)
def parallel_sgemm(kernel, trans_a, trans_b, batch, m, n, k, a, stride_a, lda, b, stride_b, ldb, c,
                   stride_c, ldc, parts):
    """``c[i] = a[i] @ b[i]`` for ``i < batch``, f32 row-major, in ``parts`` threads.

    Operands are addresses; ``stride_*`` are the bytes between consecutive matrices of the
    batch, ``ld*`` the row pitches in elements, ``trans_*`` the CBLAS transpose codes
    (111 as stored, 112 transposed). ``kernel`` is :attr:`PrivateBlas.kernel`. Each matrix
    is cut into ``splits`` blocks along its longer output dimension (columns in multiples
    of :data:`COLUMN_ALIGN`) so that ``batch * splits`` jobs share out evenly; every job is
    one single-threaded BLAS call.
    """
    splits = max((parts + batch - 1) // batch, 1)
    along_rows = m >= n
    extent = m if along_rows else n
    if not along_rows:
        splits = min(splits, max(n // COLUMN_ALIGN, 1))
    splits = min(splits, max(extent, 1))
    jobs = batch * splits
    chunks = min(parts, jobs)
    for chunk in numba.prange(chunks):
        for job in range(jobs * chunk // chunks, jobs * (chunk + 1) // chunks):
            i = job // splits
            s = job % splits
            lo = extent * s // splits
            hi = extent * (s + 1) // splits
            if not along_rows:
                lo = lo // COLUMN_ALIGN * COLUMN_ALIGN
                hi = n if s == splits - 1 else hi // COLUMN_ALIGN * COLUMN_ALIGN
            if hi <= lo:
                continue
            ai = a + i * stride_a
            bi = b + i * stride_b
            ci = c + i * stride_c
            if along_rows:
                ai += lo * (4 if trans_a == 112 else 4 * lda)
                ci += lo * 4 * ldc
                kernel(101, trans_a, trans_b, hi - lo, n, k, 1.0, ai, lda, bi, ldb, 0.0, ci, ldc)
            else:
                bi += lo * (4 * ldb if trans_b == 112 else 4)
                ci += lo * 4
                kernel(101, trans_a, trans_b, m, hi - lo, k, 1.0, ai, lda, bi, ldb, 0.0, ci, ldc)


def gemm_parts(flops: int, threads: int) -> int:
    """Return how many threads a product of ``flops`` FLOPs should use (1 .. ``threads``)."""
    return int(max(min(threads, flops // MIN_FLOPS_PER_THREAD), 1))


def _matrix(x: np.ndarray):
    """Return (CBLAS transpose code, row pitch) of the last two axes of ``x``; None if BLAS can't read it."""
    rows, cols = x.shape[-2:]
    s0, s1 = x.strides[-2:]
    if s1 == 4 and s0 >= max(cols, 1) * 4 and s0 % 4 == 0:
        return _NO_TRANS, s0 // 4
    if s0 == 4 and s1 >= max(rows, 1) * 4 and s1 % 4 == 0:
        return _TRANS, s1 // 4
    return None


def sgemm_call(a: np.ndarray, b: np.ndarray, out: np.ndarray, threads: int = 1):
    """Return ``(parallel_sgemm, args)`` computing ``out = a @ b`` (f32) in place, or None.

    The call reads the operands by address: it stays valid as long as the arrays live.
    2-D operands, or 3-D ones with equal leading dims (and equal batch strides); None when
    there is no private BLAS or a layout is one BLAS cannot read without a copy.
    """
    batched = out.ndim == 3 and a.ndim == 3 and b.ndim == 3 and a.shape[0] == b.shape[0] == out.shape[0]
    if BLAS is None or out.dtype != np.float32 or a.dtype != np.float32 or b.dtype != np.float32 \
            or not (out.ndim == a.ndim == b.ndim == 2 or batched) or out.strides[-1] != 4 \
            or out.strides[-2] % 4 or out.strides[-2] < max(out.shape[-1], 1) * 4:
        return None
    layout_a, layout_b = _matrix(a), _matrix(b)
    if layout_a is None or layout_b is None:
        return None
    m, n = out.shape[-2:]
    k = a.shape[-1]
    count = out.shape[0] if batched else 1
    if m == 0 or n == 0 or count == 0 or k == 0:
        return None
    stride = (lambda x: x.strides[0]) if batched else (lambda x: 0)
    # a matrix-vector product stays one call: OpenBLAS computes the tail of a split vector
    # with other code than the rest, and a Softmax over nearly equal logits (the ONNX light
    # models' constant weights) turns that last-bit difference into a different answer
    parts = 1 if count == 1 and min(m, n) == 1 else gemm_parts(2 * count * m * n * k, threads)
    return parallel_sgemm, (BLAS.kernel, layout_a[0], layout_b[0], count, m, n, k, a.ctypes.data, stride(a),
                            layout_a[1], b.ctypes.data, stride(b), layout_b[1], out.ctypes.data,
                            stride(out), out.strides[-2] // 4, parts)


def matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray, threads: int = 1) -> None:
    """Compute ``out = a @ b`` (f32) with up to ``threads`` threads (``np.matmul`` where BLAS can't)."""
    call = sgemm_call(a, b, out, threads)
    if call is None:  # the copies must outlive the call, which reads them by address
        a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
        call = sgemm_call(a, b, out, threads)
    if call is None:
        np.matmul(a, b, out=out)
    else:
        call[0](*call[1])
