"""`kiln conformance`: run ONNX's backend node suite on a device and print the pass rate."""

from kiln.conformance.onnx_node_suite import add_arguments, run

COMMAND = ("conformance",)
HELP = "run ONNX's backend node test suite on a Kiln device and print the pass rate per op"

__all__ = ["COMMAND", "HELP", "add_arguments", "run"]
