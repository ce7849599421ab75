"""One compiled model, bit-identical on the RTL (Verilator) and on the ISA simulator."""

import kiln
import numpy as np
import pytest
from kiln.compiler import compile_subgraph
from kiln.hw.config import VPUConfig
from onnx import TensorProto, helper, numpy_helper


def small_residual_block():
    rng = np.random.default_rng(4)
    w1 = numpy_helper.from_array((rng.standard_normal((8, 4, 3, 3)) * 0.3).astype(np.float32), "w1")
    b1 = numpy_helper.from_array((rng.standard_normal(8) * 0.1).astype(np.float32), "b1")
    w2 = numpy_helper.from_array((rng.standard_normal((8, 8, 1, 1)) * 0.3).astype(np.float32), "w2")
    w3 = numpy_helper.from_array((rng.standard_normal((4, 8, 1, 1)) * 0.3).astype(np.float32), "w3")
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "w2"], ["c2"]),
        helper.make_node("Add", ["c2", "p1"], ["a"]),
        helper.make_node("Relu", ["a"], ["r2"]),
        helper.make_node("Conv", ["r2", "w3"], ["y"]),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 6, 6])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    graph = helper.make_graph(nodes, "block", [x], [y], [w1, b1, w2, w3])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


@pytest.mark.rtl
def test_compiled_model_bit_identical_on_rtl_and_isa_simulator():
    from kiln.sim.cocotb.cosim import cosimulate

    rng = np.random.default_rng(0)
    samples = [rng.standard_normal((1, 4, 6, 6)).astype(np.float32) for _ in range(4)]
    model = kiln.quantize(kiln.convert_model(small_residual_block()), [{"x": s} for s in samples],
                          progress=False)
    config = VPUConfig(dim=4)
    program = compile_subgraph(model, config)
    assert {layer.kind for layer in program.layers} == {"conv", "maxpool", "add"}
    image = program.dram_image({"x": samples[0]})
    result = cosimulate(program.instructions, image, config, program_address=program.program_address)
    assert abs(result.cycle_error) < 0.25, result.summary()
    expected = kiln.Core().compile_model(model, "VPU", {"VPU_CONFIG": config})({"x": samples[0]})[0]
    np.testing.assert_array_equal(program.read_outputs(result.rtl.dram)[0], expected)


@pytest.mark.rtl
def test_vpu_device_on_the_rtl_transport_matches_the_isa_simulator():
    rng = np.random.default_rng(1)
    samples = [rng.standard_normal((1, 4, 6, 6)).astype(np.float32) for _ in range(4)]
    model = kiln.quantize(kiln.convert_model(small_residual_block()), [{"x": s} for s in samples],
                          progress=False)
    core = kiln.Core()
    config = {"VPU_CONFIG": VPUConfig(dim=4)}
    on_sim = core.compile_model(model, "VPU", config)
    on_rtl = core.compile_model(model, "VPU", {**config, "VPU_TRANSPORT": "rtl"})
    np.testing.assert_array_equal(on_rtl({"x": samples[1]})[0], on_sim({"x": samples[1]})[0])
