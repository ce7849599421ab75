"""The GPU device: the CPU's device-neutral schedule run as numba.cuda kernels on a CUDA GPU.

Nothing here imports ``numba.cuda`` at import time: the runtime imports every
plugin to list devices, and whether numba's CUDA simulator is used is fixed
when ``numba.cuda`` is first imported.
"""
