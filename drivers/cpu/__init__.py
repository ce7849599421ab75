"""The CPU device: fused numba kernels and BLAS GEMMs over a device-neutral schedule.

numba's OpenMP workers must not spin between parallel regions: on a machine
with few cores, spinning workers starve the BLAS threads that run the GEMMs
between them (measured: a 3x3 conv GEMM 2-5x slower). The wait policy is read
when the OpenMP runtime loads, so it is set here, before any kernel runs,
unless the user chose one.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("KMP_BLOCKTIME", "0")
