"""Which nodes the GPU runs as kernels, and building a step's kernel with its epilogue.

:func:`anchor_supported` answers the scheduler's question (does a node get a
buffer-writing kernel that takes an epilogue?) without compiling anything;
:func:`build_kernel` then compiles the kernel of a scheduled step, fusing the
step's epilogue chain into the GEMM-based and depthwise kernels, or running it
as an in-place elementwise kernel after pooling and row normalization.
"""

from __future__ import annotations

from kiln.drivers.cpu.convolution import geometry
from kiln.drivers.cpu.normalization import RowNormalization as RowGeometry
from kiln.drivers.cpu.pooling import Pooling as PoolingGeometry
from kiln.drivers.gpu.convolution import Convolution
from kiln.drivers.gpu.elementwise import ElementwiseKernel
from kiln.drivers.gpu.matmul import MatMul, matmul_layout
from kiln.drivers.gpu.movement import Concat, Transpose, concat_axis, transpose_order
from kiln.drivers.gpu.normalization import REDUCTIONS, RowNormalization, RowReduction, reduction_rows
from kiln.drivers.gpu.pooling import Pooling
from kiln.drivers.gpu.quantization import FakeQuantize
from kiln.drivers.schedule import Step
from kiln.errors import CompileError
from kiln.ir import ElementType, Node, Output, is_static

ANCHOR_TYPES = ("Convolution", "GroupConvolution", "MatMul", "MaxPool", "AvgPool", "Softmax", "MVN",
                "ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin")
NODE_KERNEL_TYPES = ("Transpose", "Concat", "FakeQuantize")
"""Ops run alone (never anchors) by a device kernel of their own."""
VIEW_TYPES = ("Reshape", "Squeeze", "Unsqueeze")
"""Ops whose output is their first input with another static shape: free on the device."""


def f32_static(*ports: Output) -> bool:
    """Return True when every port is f32 with a static shape."""
    return all(p.element_type == ElementType.f32 and is_static(p.shape) for p in ports)


def anchor_supported(node: Node, constants: dict, used: set[Output]) -> bool:
    """Return True when the GPU has a buffer-writing kernel with an epilogue for ``node``."""
    kind = node.type_name
    if kind not in ANCHOR_TYPES or any(Output(node, i) in used for i in range(1, len(node.output_types))):
        return False
    try:
        if kind in ("Convolution", "GroupConvolution"):
            weights = constants.get(node.inputs[1])
            if weights is None or not f32_static(node.inputs[0], node.output(0)) \
                    or len(node.inputs[0].shape) != 4:
                return False
            geometry(node, weights.shape)
        elif kind == "MatMul":
            if not f32_static(*node.inputs, node.output(0)):
                return False
            matmul_layout(node)
        elif kind in ("MaxPool", "AvgPool"):
            if not f32_static(node.inputs[0], node.output(0)) or len(node.inputs[0].shape) != 4:
                return False
            PoolingGeometry(node)
        elif not f32_static(node.inputs[0], node.output(0)):
            return False
        elif kind in REDUCTIONS:
            reduction_rows(node, constants)
        else:
            RowGeometry(node, constants)
    except (CompileError, KeyError, TypeError, ValueError):
        return False
    return True


def node_kernel_supported(node: Node, constants: dict) -> bool:
    """Return True when ``node`` is a Transpose, Concat or FakeQuantize (constant ranges) of static
    f32 tensors, which the GPU runs alone with a kernel of its own."""
    if node.type_name not in NODE_KERNEL_TYPES or len(node.outputs) != 1:
        return False
    data = node.inputs if node.type_name == "Concat" else node.inputs[:1]
    if not f32_static(*data, node.output(0)) or any(p in constants for p in data):
        return False
    try:
        if node.type_name == "Transpose":
            transpose_order(node, constants)
        elif node.type_name == "Concat":
            concat_axis(node)
        elif any(p not in constants for p in node.inputs[1:]) or int(node.attrs["levels"]) < 2:
            return False
    except (CompileError, KeyError, TypeError, ValueError):
        return False
    return True


class StepKernel:
    """The compiled kernel(s) of one device step.

    ``data`` are the ports the main kernel reads (the anchor's data inputs, or
    none for a chain), ``ports`` the ports the epilogue reads; ``run(out, data,
    ports, workspace)`` takes their device arrays.
    """

    def __init__(self, step: Step, constants: dict, tile: int):
        node, chain = step.node, step.chain
        self.step = step
        self.workspace_elements = 0
        self.after = None
        if step.kind == "chain":
            self.main = ElementwiseKernel(chain)
            self.exec_type = "cuda_fused_elementwise"
            self.data: list[Output] = []
            self.ports = self.main.port_operands()
            return
        kind = node.type_name
        if step.kind == "node":  # see node_kernel_supported
            self.main = {"Transpose": lambda: Transpose(node, constants), "Concat": lambda: Concat(node),
                         "FakeQuantize": lambda: FakeQuantize(node, constants)}[kind]()
            self.exec_type = f"cuda_{kind.lower()}"
            self.data = list(node.inputs) if kind == "Concat" else node.inputs[:1]
            self.ports = []
            return
        if kind in ("Convolution", "GroupConvolution"):
            self.main = Convolution(node, constants[node.inputs[1]], chain, tile)
            self.workspace_elements = self.main.workspace_elements
            self.exec_type = "cuda_depthwise" if self.main.depthwise else (
                "cuda_gemm_1x1" if self.main.pointwise else "cuda_im2col_gemm")
            self.data = [node.inputs[0]]
        elif kind == "MatMul":
            self.main = MatMul(node, constants, chain, tile)
            self.exec_type = "cuda_gemm"
            self.data = [node.inputs[0]] + ([] if self.main.b_const is not None else [node.inputs[1]])
        else:
            if kind in ("MaxPool", "AvgPool"):
                self.main = Pooling(node)
            elif kind in REDUCTIONS:
                self.main = RowReduction(node, constants)
            else:
                self.main = RowNormalization(node, constants)
            self.exec_type = f"cuda_{kind.lower()}"
            self.data = [node.inputs[0]]
            if chain is not None:
                self.after = ElementwiseKernel(chain, in_place=True)
        if self.after is not None:
            self.ports = self.after.port_operands()
        else:
            self.ports = self.main.port_operands() if hasattr(self.main, "port_operands") else []

    @property
    def reads(self) -> list[Output]:
        """Every port the step reads on the device."""
        return list(dict.fromkeys(list(self.data) + list(self.ports)))

    def run(self, out, data: list, ports: list, workspace) -> None:
        """Launch the step's kernel(s) writing device array ``out``."""
        main = self.main
        if isinstance(main, ElementwiseKernel):
            main.run(out, ports)
        elif isinstance(main, Convolution):
            main.run(data[0], out, workspace, ports)
        elif isinstance(main, MatMul):
            main.run(data[0], data[1] if len(data) > 1 else None, out, ports)
        elif isinstance(main, Concat):
            main.run(data, out)
        else:
            main.run(data[0], out)
            if self.after is not None:
                self.after.run(out, ports)
