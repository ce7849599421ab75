"""The example programs run bit-exact against their numpy references on every array size."""

import numpy as np
import pytest
from kiln.hw.config import VPUConfig
from kiln.hw.isa import decode_program
from kiln.sim import Machine
from kiln.sim.programs import (
    conv_program,
    example_programs,
    matmul_program,
    pool_program,
    random_conv_layer,
)

CONFIGS = [VPUConfig(), VPUConfig(dim=16), VPUConfig(dim=32),
           VPUConfig(dim=4, sp_depth=1024, acc_depth=256, dram_bus_bytes=4)]


def run_example(program):
    m = Machine(program.config, program.dram_size)
    m.write(0, program.dram_image)
    result = m.run(program.program_address, program.instruction_count)
    return m, result


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"dim{c.dim}")
def test_example_programs_bit_exact(config):
    programs = example_programs(config)
    assert {p.name for p in programs} >= {"matmul", "conv3x3_relu", "requant_relu",
                                          "maxpool2x2", "avgpool3x3"}
    for program in programs:
        m, result = run_example(program)
        assert program.mismatches(m.dram) == [], program.name
        assert result.counters["retired"] == program.instruction_count


def test_program_image_in_dram_decodes_to_the_program():
    for program in example_programs(VPUConfig()):
        start = program.program_address
        image = program.dram_image[start:start + 16 * program.instruction_count].tobytes()
        assert image == program.program_bytes
        assert decode_program(image) == list(program.instructions)


def test_outputs_differ_from_a_wrong_reference():
    """The comparison is real: corrupting one output byte is caught."""
    program = example_programs(VPUConfig())[0]
    m, _ = run_example(program)
    region = program.outputs[0]
    m.dram[region.address] ^= 1
    assert program.mismatches(m.dram)


@pytest.mark.parametrize("seed", range(3))
def test_random_matmul_shapes(seed):
    rng = np.random.default_rng(seed)
    m_, k, n = (int(v) for v in rng.integers(1, 40, 3))
    a = rng.integers(-128, 128, (m_, k), dtype=np.int8)
    b = rng.integers(-128, 128, (k, n), dtype=np.int8)
    program = matmul_program(VPUConfig(), a, b)
    machine, _ = run_example(program)
    assert program.mismatches(machine.dram) == []


@pytest.mark.parametrize("kernel, stride, pad", [(1, 1, 0), (3, 1, 1), (3, 2, 0), (5, 1, 2)])
def test_conv_variants(kernel, stride, pad):
    rng = np.random.default_rng(kernel * 10 + stride)
    layer = random_conv_layer(rng, 11, 10, 13, 11, kernel, stride, pad, relu=stride == 1)
    program = conv_program(VPUConfig(), layer)
    machine, _ = run_example(program)
    assert program.mismatches(machine.dram) == []


def test_conv_band_tiling_with_a_small_scratchpad():
    """A scratchpad that holds only a few output rows forces many bands."""
    config = VPUConfig(sp_depth=2048, acc_depth=256)
    layer = random_conv_layer(np.random.default_rng(5), 20, 20, 16, 16, 3, 1, 1)
    program = conv_program(config, layer)
    machine, _ = run_example(program)
    assert program.mismatches(machine.dram) == []


def test_pool_saturation_free_max_and_avg_rounding():
    rng = np.random.default_rng(9)
    x = rng.integers(-128, 128, (8, 8, 5), dtype=np.int8)
    for mode in ("max", "avg"):
        program = pool_program(VPUConfig(), x, 2, 2, mode)
        machine, _ = run_example(program)
        assert program.mismatches(machine.dram) == []


@pytest.mark.slow
@pytest.mark.parametrize("dim", [8, 16, 32])
def test_resnet_conv_layer_bit_exact(dim):
    """The benchmark layer (3x3, 64->64, 56x56) is bit-exact."""
    layer = random_conv_layer(np.random.default_rng(0), 56, 56, 64, 64, 3, 1, 1)
    program = conv_program(VPUConfig(dim=dim), layer)
    machine, result = run_example(program)
    assert program.mismatches(machine.dram) == []
    assert result.utilisation > 0.7


@pytest.mark.parametrize("timing", [
    dict(dram_latency=0, dram_bus_bytes=1),
    dict(dram_latency=500, load_queue_depth=1, compute_queue_depth=1, store_queue_depth=1),
    dict(token_queue_depth=1, vector_latency=0),
    dict(dram_bus_bytes=256, load_queue_depth=64, compute_queue_depth=64, store_queue_depth=64),
])
def test_results_do_not_depend_on_timing_parameters(timing):
    """Tokens make the programs race-free: any latencies and queue depths give the same
    bytes, and the model never deadlocks a correctly tokenised program."""
    config = VPUConfig(**timing)
    baseline = {}
    for program in example_programs(VPUConfig()):
        m, _ = run_example(program)
        baseline[program.name] = program.read_outputs(m.dram)
    for program in example_programs(config):
        m, result = run_example(program)
        for name, value in program.read_outputs(m.dram).items():
            np.testing.assert_array_equal(value, baseline[program.name][name])
        assert result.cycles > 0
