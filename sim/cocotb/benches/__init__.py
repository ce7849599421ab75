"""cocotb test modules, one per hardware block; tests/hw runs them through the runner."""
