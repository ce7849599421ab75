"""Run the GPU tests on a real CUDA GPU, or on numba's CUDA simulator where none works.

numba fixes whether ``numba.cuda`` is the simulator when it is first imported,
so the choice is made here, while pytest collects and before any test runs
(Kiln itself imports ``numba.cuda`` only when a GPU is asked for). Without a
CUDA driver library, or when a probe in a child process finds no working GPU,
the simulator is switched on for this process; each GPU test then opts into
it with ``KILN_GPU_ALLOW_CUDASIM=1`` (set for that test only, so tests of
other areas in the same worker still see no GPU, as a user would).
"""

from __future__ import annotations

import ctypes.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # gpu_models

_PROBE = "from kiln.drivers.gpu.device import probe; import sys; sys.exit(probe() is not None)"


def _real_gpu_works() -> bool:
    if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0"):
        return False
    if ctypes.util.find_library("cuda") is None and not os.path.exists("/dev/nvidiactl"):
        return False
    child = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, timeout=120)
    return child.returncode == 0


def _choose_backend() -> str:
    from numba.core import config

    if "numba.cuda" in sys.modules:
        return "simulator" if config.ENABLE_CUDASIM else "gpu"
    if _real_gpu_works():
        return "gpu"
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"  # for child processes of this one
    config.ENABLE_CUDASIM = True
    return "simulator"


BACKEND = _choose_backend()


def pytest_report_header(config):
    return f"kiln GPU tests run on: {BACKEND}"


@pytest.fixture(autouse=True)
def gpu_backend(monkeypatch):
    """Let this test use the simulator as the GPU (when no real GPU works); return the backend name."""
    from kiln.drivers.gpu.device import ALLOW_SIMULATOR, simulated

    if BACKEND == "simulator":
        if not simulated():
            pytest.skip("numba.cuda was imported without the simulator before these tests were collected")
        monkeypatch.setenv(ALLOW_SIMULATOR, "1")
    return BACKEND
