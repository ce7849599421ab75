"""The instruction decoder against kiln.hw.isa on random legal and illegal words."""

import pytest
from kiln.hw.isa import FORMATS, OPCODE_FIELD, Instruction, Queue, encode
from kiln.hw.rtl.decoder import InstructionDecoder, queue_bits

pytestmark = pytest.mark.rtl


def test_decoder_matches_isa(verilator_design, run_dir):
    design = verilator_design(InstructionDecoder(), "instruction_decoder")
    design.check("kiln.sim.cocotb.benches.decoder", parameters={"words": 3000, "seed": 1},
                 work_dir=run_dir)



@pytest.mark.parametrize("queue", [Queue.LOAD, Queue.COMPUTE, Queue.STORE])
def test_queue_bits_hold_every_bit_an_instruction_sets(queue):
    """The held runs are exactly the bits some instruction of the queue sets, less the
    opcode when the queue takes only one."""
    held = sum(((1 << width) - 1) << offset for offset, width in queue_bits(queue))
    opcodes = [op for op, fmt in FORMATS.items() if fmt.queue is queue]
    set_bits = 0
    for op in opcodes:  # every field and allowed token flag at its all-ones value
        fmt = FORMATS[op]
        values = {f.name: -1 if f.signed else f.hi for f in fmt.fields if not f.choices}
        values |= {f.name: f.choices[-1] for f in fmt.fields if f.choices}
        values |= {name: 1 for name in fmt.tokens}
        set_bits |= encode(Instruction(op, **values))
    if len(opcodes) == 1:
        set_bits &= ~OPCODE_FIELD.mask
    else:
        set_bits |= OPCODE_FIELD.mask
    assert held == set_bits
