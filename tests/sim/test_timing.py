"""The timing model follows the contract of docs/isa.md exactly."""

import json

import numpy as np
import pytest
from kiln.hw.config import VPUConfig
from kiln.hw.isa import Instruction, encode_program
from kiln.sim import Machine
from kiln.sim.timing import instruction_cost

PROGRAM = 0x4000


def run(config, *instructions, trace=False):
    m = Machine(config, dram_size=1 << 16)
    program = [*instructions, Instruction("FINISH")]
    m.write(PROGRAM, encode_program(program))
    return m, m.run(PROGRAM, len(program), trace=trace)


@pytest.mark.parametrize("config", [VPUConfig(), VPUConfig(dim=16, dram_bus_bytes=8,
                                                           dram_latency=7, vector_latency=3)])
@pytest.mark.parametrize("instruction", [
    Instruction("LOAD", y_size=3, x_size=2, x_stride=64, y_stride=256, pad_top=1, pad_left=2),
    Instruction("LOAD", mem="acc", y_size=4, y_stride=64, lanes=3),
    Instruction("STORE", mem="acc", y_size=5, y_stride=128),
    Instruction("GEMM", k_count=3, o_count=4, o_acc_inc=5, i_count=5, k_inp_inc=1),
    Instruction("VADD", count=9, dst_stride=1, src=100),
    Instruction("VCLIP", count=4, dst_stride=1),
    Instruction("VREQ", count=7, dst_stride=1, src_stride=1, param=100),
    Instruction("VPOOL", count=3, win_h=2, win_w=3, dst=100, dst_stride=1),
])
def test_single_instruction_cycles(config, instruction):
    """One instruction: dispatch at L + F, run d cycles, FINISH one cycle later."""
    _, result = run(config, instruction)
    d = instruction_cost(instruction, config).cycles
    assert result.cycles == config.dram_latency + config.fetch_cycles + d + 1
    queue = instruction.queue.value
    assert result.counters["busy_" + queue] == d


def test_duration_formulas():
    c = VPUConfig(dim=8, dram_bus_bytes=16, dram_latency=20, vector_latency=2)
    load = Instruction("LOAD", mem="acc", y_size=2, x_size=3, pad_top=1, pad_right=1)
    # 6 data rows of 32 bytes = 2 beats each, (3*4 - 6) = 6 padding rows
    assert instruction_cost(load, c).cycles == 20 + 6 * 2 + 6
    assert instruction_cost(load, c).dma_read_bytes == 6 * 32
    gemm = Instruction("GEMM", k_count=2, o_count=3, o_acc_inc=4, i_count=4)
    assert instruction_cost(gemm, c).cycles == 2 * (8 + 12) + 16
    assert instruction_cost(gemm, c).macs == 2 * 12 * 64
    assert instruction_cost(Instruction("VPOOL", count=5, win_h=3, win_w=3), c).cycles == 47
    compact = VPUConfig(dim=4, sp_depth=64, acc_depth=64, vector_latency=2, compact=True)
    # one lane per cycle: dim cycles per source row
    assert instruction_cost(Instruction("VREQ", count=5, dst_stride=1), compact).cycles == 22
    assert instruction_cost(Instruction("VPOOL", count=5, win_h=3, win_w=3), compact).cycles == 182
    store = Instruction("STORE", y_size=4, lanes=3)
    assert instruction_cost(store, c).cycles == 24
    assert instruction_cost(store, c).dma_write_bytes == 12


def test_queues_overlap_and_tokens_serialise():
    c = VPUConfig()
    load = Instruction("LOAD", y_size=200, y_stride=8)
    gemm = Instruction("GEMM", k_count=4, i_count=200)
    # independent: the GEMM runs under the LOAD
    _, free = run(c, load, gemm)
    # dependent: the GEMM waits for the LOAD's token
    _, dep = run(c, load.replace(push_next=1), gemm.replace(pop_prev=1))
    d_load, d_gemm = (instruction_cost(i, c).cycles for i in (load, gemm))
    start = c.dram_latency + c.fetch_cycles
    assert free.cycles == max(start + d_load, start + 1 + d_gemm) + 1
    assert dep.cycles == start + d_load + d_gemm + 1
    assert dep.counters["stall_compute"] == d_load - 1   # dispatched one cycle after the LOAD


def test_fetch_stalls_on_a_full_queue():
    c = VPUConfig(compute_queue_depth=2)
    gemms = [Instruction("GEMM", i_count=100) for _ in range(5)]
    _, result = run(c, *gemms)
    d = instruction_cost(gemms[0], c).cycles
    assert result.counters["stall_fetch"] > 0
    assert result.cycles == c.dram_latency + c.fetch_cycles + 5 * d + 1


def test_utilisation_and_counters_of_a_gemm():
    c = VPUConfig()
    _, result = run(c, Instruction("GEMM", k_count=1, i_count=255))
    assert result.counters["macs"] == 255 * 64
    assert result.utilisation == pytest.approx(255 * 64 / (result.cycles * 64))


def test_trace_is_perfetto_json_with_queue_tracks(tmp_path):
    c = VPUConfig()
    m, result = run(c, Instruction("LOAD", push_next=1, y_size=10),
                    Instruction("GEMM", pop_prev=1, push_next=1, i_count=10),
                    Instruction("STORE", pop_prev=1, mem="acc", y_size=10, y_stride=32),
                    trace=True)
    path = m.write_trace(tmp_path / "run.json")
    doc = json.loads(path.read_text())
    events = doc["traceEvents"]
    names = {e["args"]["name"] for e in events if e.get("name") == "thread_name"}
    assert names == {"fetch", "load", "compute", "store"}
    slices = [e for e in events if e["ph"] == "X"]
    by_name = {e["name"]: e for e in slices}
    assert {"LOAD", "GEMM", "STORE"} <= set(by_name)
    assert by_name["GEMM"]["ts"] >= by_name["LOAD"]["ts"] + by_name["LOAD"]["dur"] - 1e-9
    assert any(e["cat"] == "stall" for e in slices)
    assert any(e["ph"] == "C" for e in events)
    end = max(e["args"]["start_cycle"] + e["args"]["cycles"] for e in slices)
    assert end < result.cycles


def test_example_conv_overlaps_dma_with_compute():
    from kiln.sim.programs import conv_program, random_conv_layer
    c = VPUConfig()
    p = conv_program(c, random_conv_layer(np.random.default_rng(0), 12, 12, 16, 16, 3, 1, 1))
    m = Machine(c, p.dram_size)
    m.write(0, p.dram_image)
    r = m.run(p.program_address, p.instruction_count)
    busy = r.counters["busy_load"] + r.counters["busy_compute"] + r.counters["busy_store"]
    assert r.cycles < busy   # queues ran concurrently
    assert r.cycles >= r.counters["busy_compute"]
