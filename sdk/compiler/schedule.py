"""Dependency-token scheduling of a layer's load / compute / store instructions.

A layer is a sequence of *steps*; each step loads into one of two scratchpad
halves (double buffering, by step parity), computes, and — when it ends an
output *tile* — stores the tile, whose accumulator and output rows alternate by
tile parity. Tokens (docs/isa.md) enforce exactly the hazards of that scheme:

* load->compute: every step's loads, before its computes;
* compute->load: step t's computes, before step t+2's loads reuse its half;
* compute->store: a tile's last compute, before its stores;
* store->compute: tile u's stores, before tile u+2's computes overwrite its rows.

Between two layers a *barrier* (a one-row no-op VCLIP) waits for the last store
and releases the next layer's first load, so a layer reads only finished DRAM.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kiln.hw.isa import Instruction

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


@dataclass
class Step:
    loads: list[Instruction]
    computes: list[Instruction]
    stores: list[Instruction] = field(default_factory=list)
    tile: int = 0
    first_in_tile: bool = True


def _flag(instructions: list[Instruction], index: int, **flags: int) -> None:
    instructions[index] = instructions[index].replace(**flags)


def _busy(instruction: Instruction) -> int:
    """Return a rough duration in cycles, to order dispatch like execution."""
    op = instruction.opcode.name
    if op == "GEMM":
        i = instruction
        return i.k_count * (16 + i.o_count * i.i_count)
    if op in ("LOAD", "STORE"):
        return 20 + instruction.y_size * instruction.x_size
    return instruction.count if op != "FINISH" else 1


def _interleave(loads: list[Instruction], computes: list[Instruction]) -> list[Instruction]:
    """Merge the next step's loads with this step's computes in order of estimated start time.

    The fetch unit dispatches in program order into queues a few entries deep, so a long
    run of one queue's instructions would hold back the other queue; the two lists touch
    different scratchpad halves, so any merge of them is safe.
    """
    merged, a, b, time_a, time_b = [], 0, 0, 0, 0
    while a < len(loads) or b < len(computes):
        if b >= len(computes) or (a < len(loads) and time_a <= time_b):
            merged.append(loads[a])
            time_a += _busy(loads[a])
            a += 1
        else:
            merged.append(computes[b])
            time_b += _busy(computes[b])
            b += 1
    return merged


def schedule_layer(steps: list[Step], after_barrier: bool, barrier_after: bool,
                   barrier_row: int) -> list[Instruction]:
    """Return the layer's instructions in program order with token flags set.

    Loads run one step ahead of computes in program order, so the load engine
    fills one scratchpad half while the array works on the other.
    """
    if not steps:
        return []
    count = len(steps)
    tiles = max(s.tile for s in steps) + 1
    for t, step in enumerate(steps):
        if not step.loads or not step.computes:
            raise ValueError(f"step {t} has no loads or no computes")
        if t >= 2 or (t == 0 and after_barrier):
            _flag(step.loads, 0, pop_next=1)
        _flag(step.loads, -1, push_next=1)
        _flag(step.computes, 0, pop_prev=1)
        if step.first_in_tile and step.tile >= 2:
            _flag(step.computes, 0, pop_next=1)
        if t + 2 < count:
            _flag(step.computes, -1, push_prev=1)
        if step.stores:
            _flag(step.computes, -1, push_next=1)
            _flag(step.stores, 0, pop_prev=1)
            if step.tile + 2 < tiles or (step.tile == tiles - 1 and barrier_after):
                _flag(step.stores, -1, push_prev=1)
    program = list(steps[0].loads)
    for t, step in enumerate(steps):
        program.extend(_interleave(steps[t + 1].loads if t + 1 < count else [], step.computes))
        program.extend(step.stores)
    if barrier_after:
        program.append(Instruction("VCLIP", dst=barrier_row, count=1, dst_stride=1, lo=INT32_MIN,
                                   hi=INT32_MAX, pop_next=1, push_prev=1))
    return program
