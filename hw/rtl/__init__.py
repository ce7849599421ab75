"""The VPU datapath in Amaranth HDL: one component per hardware block, `VPU(config)` on top."""
