"""The VPU device: program loading, DRAM images and transports that run them."""
