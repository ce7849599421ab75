"""The CPU device: fused numba kernels and BLAS GEMMs over a device-neutral schedule.

Every parallel loop of an inference, GEMM blocks included, runs on numba's one
OpenMP team. Its workers spin for ``GOMP_SPINCOUNT`` iterations after a parallel
region before sleeping. Measured on the 2-core VM, SqueezeNet, 2 threads, median ms,
``GOMP_SPINCOUNT=N python benchmarks/cpu_vs_peers.py --runs 20 --models squeezenet
--engines kiln``, alone and beside two ``nice -n 19 python -c 'while 1: pass'``:

============================  =====  ==================
setting                       alone  two niced burners
============================  =====  ==================
300000 (libgomp's default)    2.92   2.92
10000 (Kiln's default)        3.01   3.07
1000                          5.88   4.59
``OMP_WAIT_POLICY=PASSIVE``   5.60   5.35  (every region wakes a sleeper)
============================  =====  ==================

Spinning covers the gap between one step's parallel loop and the next; sleeping at
once doubles SqueezeNet's time. 10000 spins (about 0.3 ms) are as fast as libgomp's
default here and bound how long an idle worker holds a core: during a dim-8 bitstream
build (yosys/nextpnr at nice 19) the default once made SqueezeNet take ~0.5 s per
inference (each region spinning ~8 ms), which 10000 did not (not reproduced with the
burners above). The count is read when the OpenMP runtime loads, so it is set here,
before any kernel runs, unless the user chose one.
"""

import os

os.environ.setdefault("GOMP_SPINCOUNT", "10000")
