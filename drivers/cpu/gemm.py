"""Parallel f32 GEMM: one single-threaded BLAS call per core on a block of the output.

OpenBLAS's own thread pool spins (``sched_yield``) between calls; interleaved
with numba's parallel loops on a 2-core machine, that spinning starved the
kernels between GEMMs (ResNet-50 used 5x the CPU time of a single-threaded
run). So Kiln switches BLAS to one thread *in its own threads only*
(``openblas_set_num_threads_local``) and splits each GEMM into blocks that its
own persistent workers and the calling thread compute at once.
"""

from __future__ import annotations

import ctypes
import glob
import os
import threading

import numpy as np


def _openblas():
    """Return numpy's OpenBLAS library (ctypes) if it has per-thread thread counts, else None."""
    root = os.path.dirname(np.__file__)
    for path in sorted(glob.glob(os.path.join(root, os.pardir, "numpy.libs", "*openblas*.so*"))):
        try:
            lib = ctypes.CDLL(path)
            lib.openblas_set_num_threads_local.restype = ctypes.c_int
            lib.openblas_set_num_threads_local.argtypes = [ctypes.c_int]
            return lib
        except (OSError, AttributeError):
            continue
    return None


_BLAS = _openblas()


def set_blas_threads(threads: int) -> int | None:
    """Set the calling thread's BLAS thread count; return the previous one (None if unsupported)."""
    if _BLAS is None:
        return None
    return int(_BLAS.openblas_set_num_threads_local(int(threads)))


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
                a, b, out = self._work[index]
                np.matmul(a, b, out=out)
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
            a = a.reshape((-1,) + a.shape[-2:])
            b = b.reshape((-1,) + b.shape[-2:])
            out = out.reshape((-1,) + out.shape[-2:])
            extent, axis = out.shape[0], 0
        else:
            m, n = out.shape
            extent, axis = (m, 0) if m >= n else (n, 1)
            extent = extent // 16
        parts = min(self.threads, extent)
        if parts <= 1 or not self._job_lock.acquire(blocking=False):
            np.matmul(a, b, out=out)
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
            for index in range(1, parts):
                self._errors[index] = None
                self._done[index].clear()
                self._work[index] = blocks[index]
                self._start[index].set()
            np.matmul(*blocks[0][:2], out=blocks[0][2])
            for index in range(1, parts):
                self._done[index].wait()
                if self._errors[index] is not None:
                    raise self._errors[index]
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
