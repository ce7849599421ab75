"""Command queues and dependency tokens: when an engine may start and what it signals."""

from amaranth import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..config import INSTRUCTION_BITS
from ..isa import TOKEN_FIELDS


def _token_flag(word, name: str):
    field = next(f for f in TOKEN_FIELDS if f.name == name)
    return word[field.offset]


class TokenFifo(wiring.Component):
    """A dependency-token FIFO between two queues, holding up to ``depth`` tokens.

    Tokens carry no data, so the FIFO is a counter.

    Ports:
        push (In, 1): add a token at this edge (ignored when ``can_push`` is low).
        pop (In, 1): remove a token at this edge (ignored when ``can_pop`` is low).
        can_push (Out, 1): fewer than ``depth`` tokens are held.
        can_pop (Out, 1): at least one token is held.
        clear (In, 1): drop every token (a new run starts).
    """

    def __init__(self, depth: int):
        self.depth = depth
        super().__init__({"push": In(1), "pop": In(1), "can_push": Out(1), "can_pop": Out(1),
                          "clear": In(1)})

    def elaborate(self, platform):
        m = Module()
        count = Signal(range(self.depth + 1))
        m.d.comb += [self.can_push.eq(count < self.depth), self.can_pop.eq(count != 0)]
        push = self.push & self.can_push
        pop = self.pop & self.can_pop
        with m.If(self.clear):
            m.d.sync += count.eq(0)
        with m.Elif(push & ~pop):
            m.d.sync += count.eq(count + 1)
        with m.Elif(pop & ~push):
            m.d.sync += count.eq(count - 1)
        return m


class QueueSequencer(wiring.Component):
    """Issue a queue's instructions to its engine in order, honouring the token flags.

    For the instruction at the queue head: wait until every token it pops is
    available, then take it from the queue and pop the tokens (``head_pop``, one
    cycle); the engine starts it in the next cycle (``start``, a register, with
    ``instruction`` already held in a register, so no path runs from the queue's
    head into an engine). Wait until the engine is idle again; then wait for room
    for every token it pushes, push them and retire it in the same cycle, ready to
    take the next instruction (which the engine starts one cycle after the retire).

    With ``slot`` (compact VPUs) the sequencer is the queue's last slot: it takes the
    head whenever it holds no instruction, without waiting for tokens, and holds it
    (``waiting``) until its tokens are there; the engine starts it one cycle after
    they are popped. An instruction waiting or executing thus occupies the queue's
    one slot, as the ISA simulator counts it for compact configurations.

    Ports:
        head (In, 128): the instruction at the head of the command queue.
        head_index (In, index_bits): its index in the program (modulo 2**index_bits).
        head_valid (In, 1): the queue is not empty.
        head_pop (Out, 1): take the head from the queue at this edge (pops its tokens).
        prev_can_pop, next_can_pop (In, 1): a token from the previous / next queue waits.
        pop_prev, pop_next (Out, 1): take that token at this edge.
        prev_can_push, next_can_push (In, 1): the FIFO towards that queue has room.
        push_prev, push_next (Out, 1): push a token at this edge.
        start (Out, 1): the engine starts ``instruction`` at this edge (registered: high in
            the cycle after ``head_pop``).
        instruction (Out, 128): the instruction taken last (registered; held while ``running``).
        index (Out, index_bits): the index of the instruction taken last.
        engine_busy (In, 1): the engine is executing (high from the cycle after ``start``).
        retire (Out, 1): the instruction completed at this edge (tokens pushed).
        running (Out, 1): an instruction was taken and has not retired.
        stall (Out, 1): waiting for a token to pop or for room to push one.
        waiting (Out, 1; ``slot`` only): an instruction is held, its tokens not yet popped.
        flush (In, 1; ``slot`` only): drop a waiting instruction (the run stopped).
    """

    def __init__(self, index_bits: int = 32, slot: bool = False):
        self.slot = slot
        members = {}
        if slot:
            members = {"waiting": Out(1), "flush": In(1)}
        super().__init__({**members,
            "head": In(INSTRUCTION_BITS), "head_index": In(index_bits), "head_valid": In(1),
            "head_pop": Out(1),
            "prev_can_pop": In(1), "next_can_pop": In(1), "pop_prev": Out(1), "pop_next": Out(1),
            "prev_can_push": In(1), "next_can_push": In(1),
            "push_prev": Out(1), "push_next": Out(1),
            "start": Out(1), "instruction": Out(INSTRUCTION_BITS), "index": Out(index_bits),
            "engine_busy": In(1), "retire": Out(1), "running": Out(1), "stall": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        started = Signal()  # the cycle after start: engine_busy is already high
        word = Signal(INSTRUCTION_BITS)  # the instruction taken last
        if self.slot:
            return self._elaborate_slot(m, started, word)
        (wants_pop_prev, wants_pop_next, wants_push_prev, wants_push_next,
         tokens_ready, room_ready) = self._token_conditions(self.head, word)
        finished = self.running & ~self.start & ~started & ~self.engine_busy
        m.d.comb += self.retire.eq(finished & room_ready)
        m.d.comb += [
            self.push_prev.eq(self.retire & wants_push_prev),
            self.push_next.eq(self.retire & wants_push_next),
        ]
        can_take = self.head_valid & (~self.running | self.retire)
        take = Signal()
        m.d.comb += [
            take.eq(can_take & tokens_ready),
            self.head_pop.eq(take),
            self.pop_prev.eq(take & wants_pop_prev),
            self.pop_next.eq(take & wants_pop_next),
            self.stall.eq((can_take & ~tokens_ready) | (finished & ~room_ready)),
            self.instruction.eq(word),
        ]
        m.d.sync += [self.start.eq(take), started.eq(self.start)]
        with m.If(take):
            m.d.sync += [self.running.eq(1), word.eq(self.head), self.index.eq(self.head_index)]
        with m.Elif(self.retire):
            m.d.sync += self.running.eq(0)
        return m

    def _token_conditions(self, popping, pushing):
        """Return the pop flags of ``popping``, the push flags of ``pushing``, whether the
        tokens ``popping`` pops are there and whether there is room for those ``pushing``
        pushes."""
        wants_pop_prev, wants_pop_next = (_token_flag(popping, "pop_prev"),
                                          _token_flag(popping, "pop_next"))
        wants_push_prev, wants_push_next = (_token_flag(pushing, "push_prev"),
                                            _token_flag(pushing, "push_next"))
        tokens_ready = ((~wants_pop_prev | self.prev_can_pop)
                        & (~wants_pop_next | self.next_can_pop))
        room_ready = ((~wants_push_prev | self.prev_can_push)
                      & (~wants_push_next | self.next_can_push))
        return (wants_pop_prev, wants_pop_next, wants_push_prev, wants_push_next,
                tokens_ready, room_ready)

    def _elaborate_slot(self, m, started, word):
        # The queue's last slot: the head is taken as soon as the slot is free, then
        # waits here for its tokens (``waiting``); ``flush`` empties a waiting slot.
        (wants_pop_prev, wants_pop_next, wants_push_prev, wants_push_next,
         tokens_ready, room_ready) = self._token_conditions(word, word)
        finished = self.running & ~self.start & ~started & ~self.engine_busy
        take = Signal()
        m.d.comb += [
            self.retire.eq(finished & room_ready),
            self.push_prev.eq(self.retire & wants_push_prev),
            self.push_next.eq(self.retire & wants_push_next),
            self.head_pop.eq(self.head_valid & ~self.waiting & ~self.running),
            take.eq(self.waiting & tokens_ready & ~self.flush),
            self.pop_prev.eq(take & wants_pop_prev),
            self.pop_next.eq(take & wants_pop_next),
            self.stall.eq((self.waiting & ~tokens_ready) | (finished & ~room_ready)),
            self.instruction.eq(word),
        ]
        m.d.sync += [self.start.eq(take), started.eq(self.start)]
        with m.If(self.head_pop):
            m.d.sync += [self.waiting.eq(1), word.eq(self.head), self.index.eq(self.head_index)]
        with m.Elif(take | self.flush):
            m.d.sync += self.waiting.eq(0)
        with m.If(take):
            m.d.sync += self.running.eq(1)
        with m.Elif(self.retire):
            m.d.sync += self.running.eq(0)
        return m
