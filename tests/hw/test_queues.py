"""Token FIFOs and the queue sequencer against Python models, through cocotb on Verilator."""

import pytest
from kiln.hw.rtl.queues import QueueSequencer, TokenFifo

pytestmark = pytest.mark.rtl


def test_token_fifo(verilator_design, run_dir):
    design = verilator_design(TokenFifo(4), "token_fifo")
    design.check("kiln.sim.cocotb.benches.token_fifo",
                 parameters={"depth": 4, "cycles": 1500, "seed": 4}, work_dir=run_dir)


@pytest.mark.slow
@pytest.mark.parametrize("depth", [1, 2, 3, 8, 31])
def test_token_fifo_sweep(verilator_design, run_dir, depth):
    design = verilator_design(TokenFifo(depth), "token_fifo")
    design.check("kiln.sim.cocotb.benches.token_fifo",
                 parameters={"depth": depth, "cycles": 10_000, "seed": depth}, work_dir=run_dir)


@pytest.mark.parametrize(("index_bits", "slot"), [(32, False), (16, True)])  # compact: 16, slot
def test_queue_sequencer(verilator_design, run_dir, index_bits, slot):
    design = verilator_design(QueueSequencer(index_bits, slot=slot), "queue_sequencer")
    design.check("kiln.sim.cocotb.benches.queue_sequencer",
                 parameters={"instructions": 200, "seed": 5, "slot": int(slot)}, work_dir=run_dir)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [11, 12, 13])
def test_queue_sequencer_long(verilator_design, run_dir, seed):
    design = verilator_design(QueueSequencer(), "queue_sequencer")
    design.check("kiln.sim.cocotb.benches.queue_sequencer",
                 parameters={"instructions": 2000, "seed": seed}, work_dir=run_dir)
