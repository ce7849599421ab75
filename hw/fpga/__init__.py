"""FPGA boards for the VPU: board top level, UART host link, bitstream flow and reports."""
