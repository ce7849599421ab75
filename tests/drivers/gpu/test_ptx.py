"""Every generated kernel compiles to PTX for a real GPU (where an NVVM from the CUDA toolkit exists).

The simulator runs kernels as Python, so it accepts code numba's CUDA target
rejects (Python's ``max``/``min`` on floats, for one). This test compiles the
kernels of a set of models with numba's real CUDA compiler, in a child process
without the simulator. No GPU is needed, only NVVM: ``CUDA_HOME`` pointing at a CUDA
toolkit, or the ``nvidia-cuda-nvcc-cu12`` wheel installed. numba asks the driver
for the compute capability of device functions; without one, 8.0 is assumed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from gpu_models import compile_gpu, tiny_cnn, tiny_transformer
from kiln import quantize
from kiln.drivers.gpu.codegen import compiled_sources
from kiln.drivers.gpu.device import ALLOW_SIMULATOR
from kiln.ir import ElementType, Model, constant, make, parameter

CHECK = textwrap.dedent("""
    import json, re, sys
    import numba.cuda
    import numba.cuda.dispatcher as dispatcher
    from numba import float32, int64

    class AssumedDevice:
        compute_capability = (8, 0)

    try:
        numba.cuda.get_current_device()
    except Exception:
        dispatcher.get_current_device = lambda: AssumedDevice()
    failures = []
    for source in json.load(open(sys.argv[1])):
        params = re.search(r"def kernel\\(([^)]*)\\)", source).group(1).split(", ")
        signature = tuple(int64 if p.endswith("_off") else float32[::1] for p in params)
        namespace = {}
        exec(compile(source.replace("@cuda.jit\\n", ""), "<kernel>", "exec"), namespace)
        try:
            numba.cuda.compile_ptx(namespace["kernel"], signature, cc=(8, 0))
        except Exception as error:
            failures.append(f"{type(error).__name__}: {error}\\n{source}")
    print(json.dumps(failures))
""")


def _nvvm_home() -> str | None:
    if os.environ.get("CUDA_HOME"):
        return os.environ["CUDA_HOME"]
    spec = importlib.util.find_spec("nvidia.cuda_nvcc") if importlib.util.find_spec("nvidia") else None
    if spec is not None and spec.submodule_search_locations:
        return list(spec.submodule_search_locations)[0]
    return None


def _build_kernels() -> None:
    for model in (tiny_cnn(batch=2), tiny_transformer()):
        compile_gpu(model)
        compile_gpu(model, GPU_TILE=16)  # the default tile
    rng = np.random.default_rng(0)
    data = [{"input": rng.standard_normal((1, 2, 6, 6)).astype(np.float32)} for _ in range(2)]
    compile_gpu(quantize(tiny_cnn(), data, progress=False))
    x = parameter("x", ElementType.f32, (2, 3, 4))
    t = x.output(0)
    for op in ("Relu", "Sigmoid", "Tanh", "Exp", "Abs", "Erf", "Floor", "HSwish", "HSigmoid", "SoftPlus",
               "Mish", "Swish"):
        t = make(op, t, name=op).output(0)
    t = make("Clamp", t, min=-1.0, max=1.0, name="clamp").output(0)
    t = make("Maximum", t, constant(np.float32(0.1)), name="maximum").output(0)
    t = make("Minimum", t, constant(np.ones((3, 1), np.float32)), name="minimum").output(0)
    t = make("Power", make("Abs", t, name="abs2").output(0), constant(np.float32(1.5)), name="pow").output(0)
    outs = [t]
    for op in ("ReduceMax", "ReduceMin", "ReduceMean"):
        outs.append(make(op, t, constant(np.array([-1], np.int64)), keep_dims=True, name=op).output(0))
    outs.append(make("MaxPool", make("Reshape", t, constant(np.array([1, 2, 3, 4], np.int64)),
                                     special_zero=False, name="r4").output(0),
                     kernel=[2, 2], strides=[1, 1], pads_begin=[1, 1], pads_end=[0, 0], name="mp").output(0))
    outs.append(make("AvgPool", make("Reshape", t, constant(np.array([1, 2, 3, 4], np.int64)),
                                     special_zero=False, name="r5").output(0),
                     kernel=[2, 2], strides=[1, 1], pads_begin=[1, 1], pads_end=[0, 0],
                     **{"exclude-pad": False}, name="ap").output(0))
    compile_gpu(Model(outs, [x]))


def test_every_generated_kernel_compiles_to_ptx(tmp_path):
    home = _nvvm_home()
    if home is None:
        pytest.skip("no NVVM to compile PTX with: set CUDA_HOME or install nvidia-cuda-nvcc-cu12")
    _build_kernels()
    sources = compiled_sources()
    assert len(sources) >= 20
    path = tmp_path / "kernels.json"
    path.write_text(json.dumps(sources))
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_ENABLE_CUDASIM", ALLOW_SIMULATOR)}
    env["CUDA_HOME"] = home
    child = subprocess.run([sys.executable, "-c", CHECK, str(path)], env=env, capture_output=True, text=True,
                           timeout=600, cwd=Path(__file__).parent)
    assert child.returncode == 0, child.stderr[-3000:]
    failures = json.loads(child.stdout.strip().splitlines()[-1])
    assert not failures, failures[0][:3000]
