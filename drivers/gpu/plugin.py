"""The GPU plugin: compiles models into numba.cuda kernels over the CPU's device-neutral schedule.

``query_model`` reports the nodes that run as GPU kernels (convolution, MatMul,
pooling, Softmax, MVN, trailing-axis reductions, fused elementwise chains,
Transpose, Concat, FakeQuantize) or as free reshapes; ``compile_model`` accepts
any model and runs the other nodes' numpy reference on the host at subgraph
boundaries (unless ``GPU_HOST_FALLBACK`` is off), so ``"HETERO:VPU,GPU,CPU"``
puts those nodes on the CPU instead.
"""

from __future__ import annotations

from kiln.drivers.gpu import device
from kiln.drivers.gpu.gemm import TILE
from kiln.drivers.plugin import Plugin
from kiln.errors import DeviceError, KilnError

PROPERTIES = {
    "PERF_COUNT": False,
    "INFERENCE_PRECISION_HINT": "f32",
    "GPU_HOST_FALLBACK": True,
    "GPU_TILE": TILE,
    "CACHE_DIR": "",
}
"""Properties the GPU understands and their defaults.

``GPU_HOST_FALLBACK``: run nodes without a GPU kernel on the host (else compiling fails).
``GPU_TILE``: the GEMM thread-block edge (threads per block = tile^2, 1..32).
"""


def _flag(value) -> bool:
    return str(value).strip().upper() in ("TRUE", "YES", "1")


class GpuPlugin(Plugin):
    device_name = "GPU"
    priority = 15
    """Between the VPU (20) and the CPU (10): AUTO prefers a working GPU to the CPU."""

    def available(self) -> bool:
        return device.unavailable_reason() is None

    def unavailable_reason(self) -> str:
        return device.unavailable_reason() or "GPU is available"

    def supported_properties(self):
        return dict(PROPERTIES)

    def query_model(self, model, properties):
        from kiln.drivers.gpu.executable import gpu_schedule, is_view
        from kiln.drivers.gpu.kernels import node_kernel_supported

        taken: dict[str, str] = {}
        try:
            schedule = gpu_schedule(model)
        except KilnError:  # a model the scheduler cannot fold: no kernel takes it
            return taken
        for step in schedule.steps:
            if step.kind != "node" or is_view(step) or node_kernel_supported(step.node, schedule.constants):
                taken.update((n.name, self.device_name) for n in step.nodes)
        return taken

    def placement_reasons(self, model, properties):
        taken = self.query_model(model, properties)
        return {n.name: f"GPU has no kernel for {n.type_name} in this form (f32, static shapes)"
                for n in model.ordered_nodes() if n.name not in taken}

    def compile_model(self, model, properties):
        from kiln.drivers.gpu.executable import GpuExecutable
        from kiln.passes import optimize

        reason = device.unavailable_reason()
        if reason is not None:
            raise DeviceError(reason)
        precision = str(properties.get("INFERENCE_PRECISION_HINT", "f32")).lower()
        if precision not in ("f32", "", "undefined"):
            raise DeviceError(f"GPU: INFERENCE_PRECISION_HINT {precision!r} is not supported (f32 only)")
        try:
            tile = int(properties.get("GPU_TILE", TILE))
        except (TypeError, ValueError):
            raise DeviceError(f"GPU: GPU_TILE {properties.get('GPU_TILE')!r} is not an integer") from None
        if not 1 <= tile <= 32:
            raise DeviceError(f"GPU: GPU_TILE {tile} must be 1..32 (threads per block = tile^2 <= 1024)")
        if not properties.get("KILN_MODEL_OPTIMIZED"):  # set on models restored from an export
            model = optimize(model)
        return GpuExecutable(model, tile=tile, host_fallback=_flag(properties.get("GPU_HOST_FALLBACK", True)),
                             profiling=_flag(properties.get("PERF_COUNT", False)))
