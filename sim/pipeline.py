"""Fetch, three command queues and their dependency tokens, simulated cycle-exactly.

This is an event-driven model of the timing contract in docs/isa.md: time jumps
from event to event (a completion, the next fetch), and at each cycle the model
applies, until nothing changes, pushes of completed instructions, then the
dispatch of the next fetched instruction, then starts in the order load, compute,
store. Each instruction's effect on the memories is applied when it starts.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from kiln.hw import isa
from kiln.hw.config import INSTRUCTION_BYTES
from kiln.hw.isa import Instruction, IsaError, Opcode
from kiln.sim.dma import execute_load, execute_store
from kiln.sim.errors import (
    AddressRangeError,
    CycleLimitError,
    DeadlockError,
    FieldRangeError,
    IllegalInstructionError,
    MissingFinishError,
)
from kiln.sim.gemm import execute_gemm
from kiln.sim.state import VpuState
from kiln.sim.timing import instruction_cost
from kiln.sim.vector import execute_vadd, execute_vclip, execute_vpool, execute_vreq
from tqdm import tqdm

EXECUTE: dict[Opcode, Callable[[Instruction, VpuState, int], None]] = {
    Opcode.LOAD: execute_load,
    Opcode.STORE: execute_store,
    Opcode.GEMM: execute_gemm,
    Opcode.VADD: execute_vadd,
    Opcode.VCLIP: execute_vclip,
    Opcode.VREQ: execute_vreq,
    Opcode.VPOOL: execute_vpool,
}

QUEUES = ("load", "compute", "store")
_PREV = {"compute": "load", "store": "compute"}
_NEXT = {"load": "compute", "compute": "store"}
_ILLEGAL_FIELDS = {"opcode", "reserved", "pop_prev", "pop_next", "push_prev", "push_next"}


def token_fifo(queue: str, flag: str) -> tuple[str, str]:
    """Return the (from, to) token FIFO a flag of an instruction in ``queue`` uses."""
    if flag == "pop_prev":
        return _PREV[queue], queue
    if flag == "pop_next":
        return _NEXT[queue], queue
    if flag == "push_prev":
        return queue, _PREV[queue]
    return queue, _NEXT[queue]


@dataclass
class TraceRecord:
    """One interval on a track of the timeline, in cycles."""

    track: str
    name: str
    start: int
    cycles: int
    args: dict = field(default_factory=dict)


@dataclass
class RunResult:
    """What one run reports: cycles, performance counters and (optionally) the timeline.

    ``counters`` holds cycles, macs, dma_read_bytes, dma_write_bytes, retired,
    busy_<queue>, stall_<queue> and stall_fetch (see docs/isa.md, "Counters").
    """

    cycles: int
    counters: dict[str, int]
    dim: int
    clock_mhz: float
    trace: list[TraceRecord] | None = None

    @property
    def utilisation(self) -> float:
        """MAC utilisation: macs / (cycles * dim**2)."""
        return self.counters["macs"] / (self.cycles * self.dim * self.dim) if self.cycles else 0.0

    @property
    def seconds(self) -> float:
        """Modelled run time at the configured clock, in seconds."""
        return self.cycles / (self.clock_mhz * 1e6)

    def summary(self) -> str:
        """Return a short human-readable report of the counters."""
        c = self.counters
        lines = [f"cycles           {self.cycles:,} ({self.seconds * 1e6:,.1f} us at "
                 f"{self.clock_mhz:g} MHz)",
                 f"MACs             {c['macs']:,}  (utilisation {self.utilisation:.1%})",
                 f"DMA read/write   {c['dma_read_bytes']:,} / {c['dma_write_bytes']:,} bytes",
                 f"retired          {c['retired']:,} instructions"]
        for q in QUEUES:
            lines.append(f"{q:<8} busy {c['busy_' + q]:>12,}  stall {c['stall_' + q]:>12,}")
        lines.append(f"fetch    stall {c['stall_fetch']:>11,}")
        return "\n".join(lines)


@dataclass
class _Engine:
    queue: deque = field(default_factory=deque)  # (index, instruction, dispatch cycle)
    current: tuple | None = None                  # (index, instruction, completion cycle)
    free_at: int = 0


def _decode(word: int, index: int) -> Instruction:
    try:
        return isa.decode(word, index=index)
    except IsaError as error:
        cls = IllegalInstructionError if error.field in _ILLEGAL_FIELDS else FieldRangeError
        message = str(error).rsplit(": ", 1)[-1]
        raise cls(message, index=index, opcode=error.opcode, field=error.field) from None


class Pipeline:
    """One run of a program: the fetch unit, three engines and four token FIFOs."""

    def __init__(self, state: VpuState, program_address: int, instruction_count: int,
                 max_cycles: int, trace: bool, progress: bool = False):
        c = state.config
        self.state, self.config = state, c
        self.program_address, self.count, self.max_cycles = (program_address,
                                                              instruction_count, max_cycles)
        self.engines = {q: _Engine() for q in QUEUES}
        self.tokens = {(a, b): 0 for a, b in (("load", "compute"), ("compute", "load"),
                                              ("compute", "store"), ("store", "compute"))}
        self.counters = {name: 0 for name in (
            "cycles", "macs", "dma_read_bytes", "dma_write_bytes", "retired", "busy_load",
            "busy_compute", "busy_store", "stall_load", "stall_compute", "stall_store",
            "stall_fetch")}
        self.records: list[TraceRecord] | None = [] if trace else None
        self.fetch_at = c.dram_latency + c.fetch_cycles
        self.fetch_index = 0
        self.fetched: Instruction | None = None
        self.finish_at: int | None = None
        self.last_completion = 0
        self.last_retired: int | None = None
        self.progress = (tqdm(total=instruction_count, unit="instr", desc="VPU sim",
                              leave=False) if progress else None)

    # -- the three kinds of event -------------------------------------------------
    def _fetch(self, now: int) -> bool:
        if self.finish_at is not None or self.fetch_at > now:
            return False
        index = self.fetch_index
        if self.fetched is None:
            if index >= self.count:
                raise MissingFinishError(
                    f"the program's {self.count} instructions end without FINISH",
                    index=max(self.count - 1, 0), field="opcode")
            address = self.program_address + INSTRUCTION_BYTES * index
            if address < 0 or address + INSTRUCTION_BYTES > self.state.dram.size:
                raise AddressRangeError(
                    f"instruction fetch at DRAM 0x{address:x} outside DRAM of "
                    f"{self.state.dram.size} bytes", memory="dram", index=index,
                    field="program_address")
            word = int.from_bytes(self.state.dram[address:address + INSTRUCTION_BYTES].tobytes(),
                                  "little")
            self.fetched = _decode(word, index)
        instr = self.fetched
        if instr.opcode == Opcode.FINISH:
            self.finish_at = now
            self._record("fetch", "FINISH", now, 1, index=index)
            self.fetched = None
            return True
        queue = instr.queue.value
        engine = self.engines[queue]
        # A compact VPU's queue slots include the one its engine executes from.
        held = len(engine.queue) + (self.config.compact and engine.current is not None)
        if held >= self.config.queue_depth(queue):
            return False
        if now > self.fetch_at:
            self.counters["stall_fetch"] += now - self.fetch_at
            self._record("fetch", f"wait: {queue} queue full", self.fetch_at, now - self.fetch_at)
        engine.queue.append((index, instr, now))
        self.fetched = None
        self.fetch_index += 1
        self.fetch_at = now + self.config.fetch_cycles
        return True

    def _complete(self, queue: str, now: int) -> bool:
        engine = self.engines[queue]
        if engine.current is None or engine.current[2] > now:
            return False
        index, instr, done = engine.current
        fifos = [token_fifo(queue, f) for f in ("push_prev", "push_next") if instr[f]]
        if any(self.tokens[f] >= self.config.token_queue_depth for f in fifos):
            return False
        for f in fifos:
            self.tokens[f] += 1
            self._count_tokens(f, now)
        if now > done:
            self.counters["stall_" + queue] += now - done
            self._record(queue, "wait: token FIFO full", done, now - done, index=index)
        engine.current = None
        engine.free_at = now
        self.counters["retired"] += 1
        self.last_retired = index
        if self.progress is not None:
            self.progress.update(1)
        self.last_completion = max(self.last_completion, now)
        return True

    def _start(self, queue: str, now: int) -> bool:
        engine = self.engines[queue]
        if engine.current is not None or not engine.queue:
            return False
        index, instr, dispatched = engine.queue[0]
        fifos = [token_fifo(queue, f) for f in ("pop_prev", "pop_next") if instr[f]]
        if any(self.tokens[f] == 0 for f in fifos):
            return False
        for f in fifos:
            self.tokens[f] -= 1
            self._count_tokens(f, now)
        engine.queue.popleft()
        ready = max(engine.free_at, dispatched)
        if now > ready:
            self.counters["stall_" + queue] += now - ready
            waits = [f for f in ("pop_prev", "pop_next") if instr[f]]
            self._record(queue, "wait: " + " ".join(waits), ready, now - ready, index=index)
        EXECUTE[instr.opcode](instr, self.state, index)
        cost = instruction_cost(instr, self.config)
        self.counters["busy_" + queue] += cost.cycles
        self.counters["macs"] += cost.macs
        self.counters["dma_read_bytes"] += cost.dma_read_bytes
        self.counters["dma_write_bytes"] += cost.dma_write_bytes
        engine.current = (index, instr, now + cost.cycles)
        if self.records is not None:
            self._record(queue, instr.opcode.name, now, cost.cycles, index=index,
                         asm=isa.format_instruction(instr))
        return True

    # -- the main loop ------------------------------------------------------------
    def run(self) -> RunResult:
        """Run until FINISH retires; raise a SimulationError naming the fault otherwise."""
        try:
            return self._run()
        finally:
            if self.progress is not None:
                self.progress.close()

    def _run(self) -> RunResult:
        now = 0
        while True:
            progress = True
            while progress:
                progress = False
                for q in QUEUES:
                    progress |= self._complete(q, now)
                progress |= self._fetch(now)
                for q in QUEUES:
                    progress |= self._start(q, now)
            idle = all(e.current is None and not e.queue for e in self.engines.values())
            if self.finish_at is not None and idle:
                cycles = max(self.finish_at, self.last_completion) + 1
                if cycles > self.max_cycles:
                    self._timeout(cycles)
                self.counters["cycles"] = cycles
                self.counters["retired"] += 1  # FINISH
                return RunResult(cycles, dict(self.counters), self.config.dim,
                                 self.config.clock_mhz, self.records)
            events = [e.current[2] for e in self.engines.values()
                      if e.current is not None and e.current[2] > now]
            if self.finish_at is None and self.fetch_at > now:
                events.append(self.fetch_at)
            if not events:
                self._deadlock(now)
            now = min(events)
            if now > self.max_cycles:
                self._timeout(now)

    def _timeout(self, now: int) -> None:
        oldest = [e.current[0] for e in self.engines.values() if e.current is not None]
        oldest += [e.queue[0][0] for e in self.engines.values() if e.queue]
        raise CycleLimitError(
            f"no FINISH within max_cycles = {self.max_cycles} (reached cycle {now}; "
            f"{self.counters['retired']} instructions retired, last retired: "
            f"{self.last_retired})", index=min(oldest) if oldest else self.fetch_index)

    def _deadlock(self, now: int) -> None:
        waits = []  # (index, opcode, field, reason)
        for q, engine in self.engines.items():
            if engine.current is not None:
                index, instr, _ = engine.current
                for f in ("push_prev", "push_next"):
                    if not instr[f]:
                        continue
                    a, b = token_fifo(q, f)
                    if self.tokens[(a, b)] >= self.config.token_queue_depth:
                        waits.append((index, instr.opcode.name, f,
                                      f"cannot push: the {a}->{b} token FIFO is full"))
            elif engine.queue:
                index, instr, _ = engine.queue[0]
                for f in ("pop_prev", "pop_next"):
                    if not instr[f]:
                        continue
                    a, b = token_fifo(q, f)
                    if self.tokens[(a, b)] == 0:
                        waits.append((index, instr.opcode.name, f,
                                      f"waits for a {a}->{b} token that no instruction can "
                                      "push any more"))
        if self.fetched is not None:
            q = self.fetched.queue.value
            waits.append((self.fetch_index, self.fetched.opcode.name, None,
                          f"cannot be dispatched: the {q} queue is full"))
        waits.sort(key=lambda w: w[0])
        detail = "; ".join(f"instruction {i} ({op}) {why}" for i, op, _, why in waits)
        index, opcode, field_name, _ = waits[0] if waits else (None, None, None, None)
        raise DeadlockError(f"deadlock at cycle {now}: {detail}", index=index, opcode=opcode,
                            field=field_name)

    # -- trace --------------------------------------------------------------------
    def _record(self, track: str, name: str, start: int, cycles: int, **args) -> None:
        if self.records is not None:
            self.records.append(TraceRecord(track, name, start, cycles, args))

    def _count_tokens(self, fifo: tuple[str, str], now: int) -> None:
        if self.records is not None:
            self.records.append(TraceRecord("tokens", f"{fifo[0]}->{fifo[1]}", now, 0,
                                            {"value": self.tokens[fifo]}))


def run_program(state: VpuState, program_address: int, instruction_count: int,
                max_cycles: int, trace: bool = False, progress: bool = False) -> RunResult:
    """Run the program at ``program_address`` (``instruction_count`` instructions);
    ``progress`` shows a tqdm bar of retired instructions."""
    return Pipeline(state, program_address, instruction_count, max_cycles, trace,
                    progress).run()


__all__ = ["Pipeline", "RunResult", "TraceRecord", "run_program", "token_fifo"]
