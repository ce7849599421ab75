"""The VPU compiler: quantized IR subgraphs -> ISA programs with a static DRAM plan."""

from kiln.compiler.lowering import compile_subgraph
from kiln.compiler.patterns import VpuSupport, analyze
from kiln.compiler.program import VpuProgram

__all__ = ["VpuProgram", "VpuSupport", "analyze", "compile_subgraph"]
