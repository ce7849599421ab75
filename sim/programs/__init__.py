"""Hand-written example programs with numpy references.

`example_programs(config)` returns the set the tests, the docs and the RTL
co-simulation run: each is an `ExampleProgram` (instructions, DRAM image,
program address, output regions and a reference function) that must come out
bit-exact. The builders (`matmul_program`, `conv_program`, `requant_relu_program`,
`pool_program`) take any sizes that fit the configuration.
"""

from __future__ import annotations

import numpy as np
from kiln.hw.config import VPUConfig
from kiln.sim.programs.conv import ConvLayer, conv_program, random_conv_layer
from kiln.sim.programs.example import ExampleProgram, OutputRegion
from kiln.sim.programs.matmul import matmul_program
from kiln.sim.programs.pool import pool_program
from kiln.sim.programs.requant import requant_relu_program

__all__ = ["ExampleProgram", "OutputRegion", "ConvLayer", "example_programs", "matmul_program",
           "conv_program", "random_conv_layer", "requant_relu_program", "pool_program"]


def example_programs(config: VPUConfig | None = None, seed: int = 0) -> list[ExampleProgram]:
    """Return the example programs for ``config`` (random data from ``seed``), small enough
    to co-simulate on RTL: a tiled matmul, two conv layers (3x3 pad 1 with ReLU, and
    3x3 stride 2), requantize + ReLU, max pooling and average pooling."""
    config = config or VPUConfig()
    rng = np.random.default_rng(seed)
    dim = config.dim
    a = rng.integers(-128, 128, (3 * dim + 5, 2 * dim + 3), dtype=np.int8)
    b = rng.integers(-128, 128, (2 * dim + 3, 2 * dim + 1), dtype=np.int8)
    acc = rng.integers(-(1 << 20), 1 << 20, (2 * dim + 7, dim + 3)).astype(np.int32)
    channels = dim + 3
    return [
        matmul_program(config, a, b, "matmul"),
        conv_program(config, random_conv_layer(rng, 8, 7, dim + 4, dim + 2, 3, 1, 1, True),
                     "conv3x3_relu"),
        conv_program(config, random_conv_layer(rng, 9, 9, dim, dim, 3, 2, 1, False),
                     "conv3x3_stride2"),
        requant_relu_program(config, acc, rng.integers(-1000, 1000, channels),
                             rng.integers(1 << 14, 1 << 15, channels),
                             rng.integers(12, 20, channels), -5, (-(1 << 19), 1 << 19),
                             "requant_relu"),
        pool_program(config, rng.integers(-128, 128, (6, 6, channels), dtype=np.int8), 2, 2,
                     "max", "maxpool2x2"),
        pool_program(config, rng.integers(-128, 128, (7, 7, channels), dtype=np.int8), 3, 2,
                     "avg", "avgpool3x3"),
    ]
