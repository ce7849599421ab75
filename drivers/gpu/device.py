"""Finding a working CUDA device, and numba's CUDA simulator.

"Available" means a real CUDA GPU runs a tiny kernel. Under numba's CUDA
simulator (``NUMBA_ENABLE_CUDASIM=1``) kernels run on the CPU, correctly but
thousands of times slower, so the simulator counts as a device only when the
user opts in with ``KILN_GPU_ALLOW_CUDASIM=1`` (the tests do): a user without a
GPU gets a clear DeviceError from ``compile_model(m, "GPU")`` and AUTO passes it over.
"""

from __future__ import annotations

import functools
import os

import numpy as np

ALLOW_SIMULATOR = "KILN_GPU_ALLOW_CUDASIM"
"""Environment variable: "1" lets numba's CUDA simulator stand in for a GPU."""


def cuda():
    """Return the ``numba.cuda`` module (imported on first use)."""
    from numba import cuda as module

    return module


def simulated() -> bool:
    """Return True when ``numba.cuda`` is (or will be, on import) numba's CUDA simulator."""
    from numba.core import config

    return bool(config.ENABLE_CUDASIM)


def simulator_allowed() -> bool:
    """Return True when the user opted into running GPU kernels on numba's CUDA simulator."""
    return os.environ.get(ALLOW_SIMULATOR, "").strip().lower() in ("1", "yes", "true")


_PROBE = '''
from numba import cuda

@cuda.jit
def add_one(x):
    i = cuda.grid(1)
    if i < x.shape[0]:
        x[i] += 1.0
'''
"""The probe kernel, as source: the simulator swaps a kernel's *global* ``cuda`` for its own."""


@functools.cache
def probe() -> str | None:
    """Run a tiny kernel on the current device; return None if it works, else why it does not.

    The result is cached: a device does not appear or vanish within one process.
    """
    try:
        module = cuda()
        if not module.is_available():
            return "no CUDA GPU found (numba.cuda.is_available() is False)"

        namespace: dict[str, object] = {}
        exec(compile(_PROBE, "<kiln-gpu-probe>", "exec"), namespace)
        add_one = namespace["add_one"]
        data = module.to_device(np.arange(4, dtype=np.float32))
        add_one[1, 32](data)
        if not np.array_equal(data.copy_to_host(), np.arange(1, 5, dtype=np.float32)):
            return "a test kernel on the CUDA device returned wrong values"
    except Exception as error:  # a broken driver raises anything from CudaSupportError to OSError
        return f"the CUDA device does not work: {type(error).__name__}: {error}"
    return None


def unavailable_reason() -> str | None:
    """Return None when GPU kernels can run here, else a sentence saying why not."""
    if simulated() and not simulator_allowed():
        return ("GPU is not available: numba's CUDA simulator is enabled (NUMBA_ENABLE_CUDASIM=1) but no "
                f"CUDA GPU is in use; set {ALLOW_SIMULATOR}=1 to run GPU kernels on the simulator (slow)")
    reason = probe()
    return None if reason is None else f"GPU is not available: {reason}"


def describe() -> str:
    """Return the name of the device kernels run on (e.g. "NVIDIA H100 80GB HBM3")."""
    if simulated():
        return "numba CUDA simulator (CPU)"
    device = cuda().get_current_device()
    name = device.name.decode() if isinstance(device.name, bytes) else str(device.name)
    return f"{name} (compute capability {device.compute_capability[0]}.{device.compute_capability[1]})"
