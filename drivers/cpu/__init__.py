"""The CPU device: fused numba kernels and BLAS GEMMs over a device-neutral schedule.

Every parallel loop of an inference, GEMM blocks included, runs on numba's one
OpenMP team. Its workers spin for ``GOMP_SPINCOUNT`` iterations after a parallel
region before sleeping, which decides two things on a 2-core machine (measured,
SqueezeNet, 2 threads, median ms):

============================  =========  ====================================
GOMP_SPINCOUNT                quiet      another process busy on the other core
============================  =========  ====================================
300000 (libgomp's default)    2.48       524  (each region spins ~8 ms waiting)
10000 (Kiln's default)        2.55       39
1000                          2.55       8.8  (BERT layer 2.6x slower when quiet)
``OMP_WAIT_POLICY=PASSIVE``   5.67       5.6  (every region wakes a sleeper)
============================  =========  ====================================

10000 spins (about 0.3 ms) cover the gaps between one step's parallel loop and the
next, numpy reference steps included, then yield the core. On a machine where
other work holds cores, use fewer threads (``INFERENCE_NUM_THREADS``) or a shorter
spin. The count is read when the OpenMP runtime loads, so it is set here, before
any kernel runs, unless the user chose one.
"""

import os

os.environ.setdefault("GOMP_SPINCOUNT", "10000")
