"""The CPU device: fused numba kernels and BLAS GEMMs over a device-neutral schedule.

Every parallel loop of an inference, GEMM blocks included, runs on numba's one
OpenMP team, whose workers spin briefly between parallel regions (libgomp's
default wait policy) so that the next step starts in about a microsecond; they
sleep once the inference is over. ``OMP_WAIT_POLICY=PASSIVE`` (sleep at once)
made SqueezeNet's 2-thread latency 2x longer (measured: 6.6 ms against 3.3 ms),
since each of its 41 steps then waited for a worker to wake up.
"""
