"""The board transport against the board top level in the HDL simulator.

`SimulatedBoard` runs the same `BoardTop` (UART, host-link bridge, block-RAM DRAM,
`VPU(config)`) that goes into the bitstream; every byte crosses the simulated UART
pins. Results must be bit-identical to the ISA simulator's.
"""

import kiln
import numpy as np
import pytest
from kiln.compiler import compile_subgraph
from kiln.drivers.vpu.board import BoardTransport
from kiln.drivers.vpu.isa_sim import IsaSimTransport
from kiln.errors import DeviceError
from kiln.hw import isa
from kiln.hw.config import VPUConfig
from kiln.hw.fpga import boards
from kiln.hw.fpga.board_design import board_top
from kiln.hw.fpga.board_top import BoardTop
from kiln.hw.fpga.simulated_board import SimulatedBoard
from kiln.hw.rtl.vpu import VPU
from kiln.sim.programs import example_programs
from onnx import TensorProto, helper, numpy_helper

CONFIG = VPUConfig(dim=2, sp_depth=1024, acc_depth=512, dram_bus_bytes=4)
DRAM_BYTES = 8 * 1024
CLOCK_HZ = 1_000_000
#: Counters that count architectural events, so the board and the ISA simulator agree.
EXACT_COUNTERS = ("retired", "macs", "dma_read_bytes", "dma_write_bytes")


@pytest.fixture(scope="module")
def board():
    top = BoardTop(VPU(CONFIG), bus_bytes=CONFIG.dram_bus_bytes, dram_bytes=DRAM_BYTES,
                   clock_hz=CLOCK_HZ, divisor=4, timeout_cycles=4000)
    stream = SimulatedBoard(top)
    transport = BoardTransport(stream, CONFIG, progress=False)
    yield transport
    transport.close()


def _run_both(board, image, program_address, count, config=CONFIG, dram_bytes=DRAM_BYTES):
    """Run one DRAM image on the board and on the ISA simulator; return both DRAMs and stats."""
    board.write_dram(0, image)
    board_stats = board.run(program_address, count, 200_000)
    board_dram = board.read_dram(0, image.size)
    reference = IsaSimTransport(config, dram_size=dram_bytes)
    reference.write_dram(0, image)
    sim_stats = reference.run(program_address, count, 200_000)
    sim_dram = reference.read_dram(0, image.size)
    return board_dram, board_stats, sim_dram, sim_stats


def _check_identical(board_dram, board_stats, sim_dram, sim_stats):
    different = np.flatnonzero(board_dram != sim_dram)
    assert different.size == 0, f"DRAM differs at {different[:8]} ..."
    for name in EXACT_COUNTERS:
        assert board_stats.counters[name] == sim_stats.counters[name], name
    assert board_stats.cycles > 0


def _conv_relu_model():
    rng = np.random.default_rng(7)
    w = numpy_helper.from_array((rng.standard_normal((2, 2, 3, 3)) * 0.4).astype(np.float32), "w")
    b = numpy_helper.from_array((rng.standard_normal(2) * 0.1).astype(np.float32), "b")
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["y"])]
    graph = helper.make_graph(
        nodes, "conv_relu", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w, b])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def _check_compiled_model(board, config, dram_bytes):
    """Compile a quantized conv + ReLU for ``config``, run it on ``board`` and the ISA simulator."""
    rng = np.random.default_rng(1)
    samples = [rng.standard_normal((1, 2, 4, 4)).astype(np.float32) for _ in range(4)]
    model = kiln.quantize(kiln.convert_model(_conv_relu_model()), [{"x": s} for s in samples],
                          progress=False)
    program = compile_subgraph(model, config)
    image = program.dram_image({"x": samples[0]})
    assert image.size <= dram_bytes
    results = _run_both(board, image, program.program_address, len(program.instructions),
                        config, dram_bytes)
    _check_identical(*results)
    expected = kiln.Core().compile_model(model, "VPU", {"VPU_CONFIG": config})({"x": samples[0]})[0]
    np.testing.assert_array_equal(program.read_outputs(results[0])[0], expected)


def test_compiled_model_is_bit_identical_to_the_isa_simulator(board):
    _check_compiled_model(board, CONFIG, DRAM_BYTES)


def test_icebreaker_board_runs_a_compiled_model_bit_identically():
    """The iCEBreaker's own build: the compact VPU, its 128 KiB DRAM in (simulated) SPRAM."""
    target = boards.board("icebreaker")
    top = board_top(target.config, dram_bytes=target.dram_bytes, clock_hz=CLOCK_HZ,
                    baud=CLOCK_HZ // 4, dram_memory=target.dram_memory)
    transport = BoardTransport(SimulatedBoard(top), target.config, progress=False)
    try:
        assert transport.info.dram_bytes == 128 * 1024
        _check_compiled_model(transport, target.config, target.dram_bytes)
    finally:
        transport.close()


@pytest.mark.slow
@pytest.mark.parametrize("name", [p.name for p in example_programs(CONFIG)])
def test_example_program_is_bit_identical_to_the_isa_simulator(board, name):
    example = next(p for p in example_programs(CONFIG) if p.name == name)
    image = example.dram_image.copy()
    code = np.frombuffer(example.program_bytes, np.uint8)
    image[example.program_address:example.program_address + code.size] = code
    results = _run_both(board, image, example.program_address, example.instruction_count)
    _check_identical(*results)
    assert example.mismatches(results[0]) == []


def test_program_without_finish_is_reported(board):
    example = next(p for p in example_programs(CONFIG) if p.name == "maxpool2x2")
    code = isa.encode_program(example.instructions[:-1])
    board.write_dram(example.program_address, code)
    with pytest.raises(DeviceError, match=r"NO_FINISH at instruction \d+ after \d+ cycles"):
        board.run(example.program_address, len(example.instructions) - 1, 100_000)


def test_config_mismatch_is_refused(board):
    with pytest.raises(DeviceError, match="its VPU has dim=2.*VPUConfig.dim=4"):
        BoardTransport(board.stream, VPUConfig(dim=4, sp_depth=1024, acc_depth=512))


def test_out_of_range_dram_access_is_refused(board):
    with pytest.raises(DeviceError, match="outside the board's 8192-byte DRAM"):
        board.read_dram(DRAM_BYTES - 4, 8)
