"""The instruction decoder against kiln.hw.isa on random legal and illegal words."""

import pytest
from kiln.hw.rtl.decoder import InstructionDecoder

pytestmark = pytest.mark.rtl


def test_decoder_matches_isa(verilator_design, run_dir):
    design = verilator_design(InstructionDecoder(), "instruction_decoder")
    design.check("kiln.sim.cocotb.benches.decoder", parameters={"words": 3000, "seed": 1},
                 work_dir=run_dir)
