"""Order the steps of a tiled program and give them dependency tokens (double buffering).

A tiled program is a list of steps; step ``s`` loads into buffer set ``s % 2``,
computes from it into output buffer ``s % 2`` and stores from there. The tokens:

* the last LOAD of step s pushes load->compute; the first compute instruction of
  step s pops it;
* the last compute instruction of step s pushes compute->load when step s+2
  exists; the first LOAD of step s+2 pops it before overwriting the buffers;
* the last compute instruction of step s pushes compute->store; the first STORE of
  step s pops it;
* the last STORE of step s pushes store->compute when step s+2 exists; the first
  compute instruction of step s+2 pops it before overwriting the output buffer.

Instructions are emitted as L0, L1, C0, S0, L2, C1, S1, ... so the loads of the
next step sit ahead of this step's compute in the instruction stream and overlap
it. Every token a pop waits for is pushed by an earlier instruction in the stream,
so the order can never deadlock.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kiln.hw.isa import Instruction, Queue

BUFFERS = 2


@dataclass
class Step:
    """The loads, compute instructions and stores of one tile, in order."""

    loads: list[Instruction] = field(default_factory=list)
    computes: list[Instruction] = field(default_factory=list)
    stores: list[Instruction] = field(default_factory=list)


def _set(instructions: list[Instruction], position: int, **flags: int) -> None:
    instructions[position] = instructions[position].replace(**flags)


def double_buffered(steps: list[Step]) -> list[Instruction]:
    """Return the instruction stream of ``steps`` with tokens set (FINISH appended)."""
    n = len(steps)
    tagged: list[Step] = []
    for s, step in enumerate(steps):
        for name, queue in (("loads", Queue.LOAD), ("computes", Queue.COMPUTE),
                            ("stores", Queue.STORE)):
            part = getattr(step, name)
            if not part:
                raise ValueError(f"step {s} has no {name}")
            if any(i.queue != queue for i in part):
                raise ValueError(f"step {s}: {name} holds an instruction of another queue")
        loads, computes, stores = list(step.loads), list(step.computes), list(step.stores)
        if s >= BUFFERS:
            _set(loads, 0, pop_next=1)
            _set(computes, 0, pop_next=1)
        _set(loads, -1, push_next=1)
        _set(computes, 0, pop_prev=1)
        _set(computes, -1, push_next=1)
        _set(stores, 0, pop_prev=1)
        if s + BUFFERS < n:
            _set(computes, -1, push_prev=1)
            _set(stores, -1, push_prev=1)
        tagged.append(Step(loads, computes, stores))
    program: list[Instruction] = list(tagged[0].loads) if tagged else []
    for s, step in enumerate(tagged):
        if s + 1 < n:
            program += tagged[s + 1].loads
        program += step.computes + step.stores
    program.append(Instruction("FINISH"))
    return program
