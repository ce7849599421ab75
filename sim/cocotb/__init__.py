"""cocotb benches for the Amaranth VPU, the Verilator runner and whole-program co-simulation."""
