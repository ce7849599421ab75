"""Bench for `InstructionDecoder`: random legal and illegal words against `kiln.hw.isa.decode`.

Parameters: ``words`` (how many), ``seed``. Legal words are random instructions
of every opcode; illegal ones have an unknown opcode, a reserved bit set or a
token flag the opcode may not use. A word is illegal for the decoder exactly
when ``isa.decode`` rejects its opcode, a reserved bit or a token flag.
"""

from __future__ import annotations

import cocotb
import numpy as np
from cocotb.triggers import Timer
from kiln.hw import isa
from kiln.hw.rtl.decoder import QUEUE_CODES
from kiln.sim.cocotb.bench import parameters

ILLEGAL_FIELDS = {"opcode", "reserved", "pop_prev", "pop_next", "push_prev", "push_next"}


def random_word(rng) -> int:
    """Return a random instruction word: usually legal, sometimes corrupted."""
    opcode = isa.Opcode(int(rng.choice([int(op) for op in isa.Opcode])))
    fmt = isa.FORMATS[opcode]
    values = {}
    for field in fmt.fields:
        if field.choices:
            values[field.name] = int(rng.integers(len(field.choices)))
        else:
            values[field.name] = int(rng.integers(max(field.lo, field.minimum or field.lo),
                                                  field.hi + 1))
    for flag in fmt.tokens:
        values[flag] = int(rng.integers(2))
    word = isa.encode(isa.Instruction(opcode, **values))
    roll = rng.random()
    if roll < 0.15:
        word = (word & ~0xF) | int(rng.choice([0, 8, 9, 10, 11, 12, 13, 14]))
    elif roll < 0.3:
        word |= 1 << int(rng.integers(4, 128))
    return word


def expected(word: int) -> tuple[bool, int | None]:
    """Return (illegal, queue code) as the ISA defines them."""
    try:
        instruction = isa.decode(word)
    except isa.IsaError as error:
        if error.field in ILLEGAL_FIELDS:
            return True, None
        opcode = isa.Opcode(word & 0xF)  # a field-range error: decodable, not illegal
        return False, QUEUE_CODES[isa.FORMATS[opcode].queue]
    return False, QUEUE_CODES[instruction.queue]


@cocotb.test()
async def words_classified_like_the_isa(dut):
    """Every word: illegal flag, queue and FINISH agree with kiln.hw.isa."""
    p = parameters()
    rng = np.random.default_rng(p.get("seed", 0))
    illegal_seen = 0
    for _ in range(p.get("words", 2000)):
        word = random_word(rng)
        dut.instruction.value = word
        await Timer(1, unit="ns")
        want_illegal, want_queue = expected(word)
        got_illegal = int(dut.illegal.value)
        assert got_illegal == want_illegal, f"word {word:#034x}: illegal={got_illegal}"
        illegal_seen += want_illegal
        if not want_illegal:
            assert int(dut.queue.value) == want_queue, f"word {word:#034x}: queue"
            assert int(dut.finish.value) == ((word & 0xF) == isa.Opcode.FINISH)
    assert illegal_seen > 0
