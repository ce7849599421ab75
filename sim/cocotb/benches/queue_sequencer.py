"""Bench for `QueueSequencer`: random instructions, token availability and engine run times.

Parameters: ``instructions``, ``seed``, ``slot`` (1: the compact sequencer that is its
queue's last slot, ``QueueSequencer(slot=True)``). The bench plays the command queue (a
head that is sometimes missing), the four token FIFO ends (random can_pop /
can_push) and an engine busy for 1-5 cycles after each start. A Python model
of the contract in the sequencer's docstring predicts every output in every
cycle: take the head as soon as its pop tokens are there and the previous
instruction retires (same cycle), start the engine on it in the next cycle,
retire as soon as the engine is idle and
there is room for the push tokens, pops and pushes exactly the flags of the
instruction concerned, stall while waiting for either. A slot sequencer instead takes
the head whenever it holds nothing and waits with it (``waiting``) for its tokens.
At the end every instruction has started and retired once, in program order.
"""

from __future__ import annotations

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, ReadOnly
from kiln.hw.config import INSTRUCTION_BITS
from kiln.hw.isa import TOKEN_FIELDS
from kiln.sim.cocotb.bench import parameters, start

FLAG = {f.name: f.offset for f in TOKEN_FIELDS}


def flag(word: int, name: str) -> int:
    return (word >> FLAG[name]) & 1


class SequencerModel:
    """The sequencer's contract, one cycle at a time."""

    def __init__(self, slot: bool = False):
        self.slot = slot
        self.waiting = False  # slot: an instruction is held, its tokens not yet popped
        self.tokens_ready = False  # slot: the held instruction's tokens are there
        self.running = False
        self.start = False    # the previous cycle took the head: the engine starts now
        self.started = False  # the previous cycle was a start cycle
        self.word = 0
        self.index = 0

    def outputs(self, i: dict) -> dict:
        """Return the outputs for inputs ``i`` in the current state."""
        if self.slot:
            return self._slot_outputs(i)
        head, word = i["head"], self.word
        tokens_ready = ((not flag(head, "pop_prev") or i["prev_can_pop"])
                        and (not flag(head, "pop_next") or i["next_can_pop"]))
        room_ready = ((not flag(word, "push_prev") or i["prev_can_push"])
                      and (not flag(word, "push_next") or i["next_can_push"]))
        finished = (self.running and not self.start and not self.started
                    and not i["engine_busy"])
        retire = finished and room_ready
        can_start = i["head_valid"] and (not self.running or retire)
        go = can_start and tokens_ready
        return {
            "start": int(self.start), "head_pop": int(go),
            "pop_prev": int(go and flag(head, "pop_prev")),
            "pop_next": int(go and flag(head, "pop_next")),
            "push_prev": int(retire and flag(word, "push_prev")),
            "push_next": int(retire and flag(word, "push_next")),
            "retire": int(retire), "running": int(self.running),
            "stall": int((can_start and not tokens_ready) or (finished and not room_ready)),
            "instruction": word, "index": self.index,
        }

    def _slot_outputs(self, i: dict) -> dict:
        word = self.word
        tokens_ready = ((not flag(word, "pop_prev") or i["prev_can_pop"])
                        and (not flag(word, "pop_next") or i["next_can_pop"]))
        room_ready = ((not flag(word, "push_prev") or i["prev_can_push"])
                      and (not flag(word, "push_next") or i["next_can_push"]))
        finished = (self.running and not self.start and not self.started
                    and not i["engine_busy"])
        retire = finished and room_ready
        self.tokens_ready = tokens_ready
        take = self.waiting and tokens_ready
        return {
            "start": int(self.start),
            "head_pop": int(i["head_valid"] and not self.waiting and not self.running),
            "pop_prev": int(take and flag(word, "pop_prev")),
            "pop_next": int(take and flag(word, "pop_next")),
            "push_prev": int(retire and flag(word, "push_prev")),
            "push_next": int(retire and flag(word, "push_next")),
            "retire": int(retire), "running": int(self.running), "waiting": int(self.waiting),
            "stall": int((self.waiting and not tokens_ready) or (finished and not room_ready)),
            "instruction": word, "index": self.index,
        }

    def clock(self, i: dict, o: dict) -> None:
        """Advance the state over one rising edge."""
        if self.slot:
            take = self.waiting and self.tokens_ready
            self.started, self.start = bool(o["start"]), bool(take)
            if o["head_pop"]:
                self.waiting, self.word, self.index = True, i["head"], i["head_index"]
            elif take:
                self.waiting = False
            if take:
                self.running = True
            elif o["retire"]:
                self.running = False
            return
        self.started = bool(o["start"])
        self.start = bool(o["head_pop"])
        if o["head_pop"]:
            self.running, self.word, self.index = True, i["head"], i["head_index"]
        elif o["retire"]:
            self.running = False


@cocotb.test()
async def every_output_matches_model(dut):
    """Random program, tokens and engine: compare all outputs every cycle, then the order."""
    p = parameters()
    rng = np.random.default_rng(p.get("seed", 0))
    count = p.get("instructions", 200)
    program = [int.from_bytes(rng.bytes(INSTRUCTION_BITS // 8), "little") for _ in range(count)]
    slot = bool(p.get("slot", 0))
    model = SequencerModel(slot)
    await start(dut)
    position, busy_left = 0, 0
    started, retired = [], 0
    for cycle in range(count * 40):
        await FallingEdge(dut.clk)
        inputs = {
            "head": program[position] if position < count else 0,
            "head_index": position if position < count else 0,
            "head_valid": int(position < count and rng.random() < 0.85),
            "engine_busy": int(busy_left > 0),
            **{name: int(rng.random() < 0.7) for name in (
                "prev_can_pop", "next_can_pop", "prev_can_push", "next_can_push")},
            **({"flush": 0} if slot else {}),
        }
        for name, value in inputs.items():
            getattr(dut, name).value = value
        await ReadOnly()
        expected = model.outputs(inputs)
        for name, want in expected.items():
            got = int(getattr(dut, name).value)
            assert got == want, (f"cycle {cycle}: {name} = {got:#x}, model {want:#x} "
                                 f"(inputs {inputs}, running {model.running})")
        model.clock(inputs, expected)
        if expected["head_pop"]:
            started.append(inputs["head_index"])
            position += 1
        if expected["start"]:
            busy_left = int(rng.integers(1, 6))
        elif busy_left:
            busy_left -= 1
        retired += expected["retire"]
        if retired == count:
            break
    assert started == list(range(count)), f"started {started[:20]}..., not in program order"
    assert retired == count, f"{retired} of {count} instructions retired"
