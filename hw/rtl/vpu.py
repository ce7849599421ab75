"""The VPU top level: fetch, three command queues with tokens, engines, memories, CSRs."""

from amaranth import Cat, Const, Module, Mux, Signal
from amaranth.lib import fifo, wiring
from amaranth.lib.wiring import Out

from ..config import INSTRUCTION_BITS
from ..isa import Queue
from ..registers import ErrorCode
from .compute_engine import ComputeEngine
from .control_registers import ControlRegisters
from .decoder import QUEUE_CODES, InstructionDecoder, queue_bits
from .dram_arbiter import DramArbiter
from .fetch import InstructionFetch
from .load_engine import LoadEngine
from .memories import accumulator, scratchpad
from .ports import DramPort, RegisterPort
from .queues import QueueSequencer, TokenFifo
from .store_engine import StoreEngine

QUEUES = ("load", "compute", "store")
#: Bits of an instruction index in a compact VPU (32 otherwise): ERROR_INDEX wraps at 2**16.
COMPACT_INDEX_BITS = 16


class VPU(wiring.Component):
    """The Kiln VPU: runs an ISA program from DRAM to FINISH, sized by ``config``.

    A host writes PROGRAM_ADDRESS and PROGRAM_COUNT and sets CONTROL.START on the
    register port; the fetch unit reads the program from DRAM, the decoder sends
    each instruction to the load, compute or store queue, and each queue's engine
    executes its instructions in order, synchronised by dependency tokens
    (kiln.hw.isa). STATUS shows DONE one cycle after FINISH was fetched and every
    queue has drained; ERROR with ERROR_CODE/ERROR_INDEX on an illegal instruction,
    a missing FINISH, a token deadlock (every queue blocked for four cycles) or when
    CYCLES reaches a non-zero WATCHDOG (ERROR_INDEX: the oldest instruction not
    retired three cycles earlier). Engines start an instruction one cycle after its
    queue's sequencer takes it, and a STORE retires once its writes have left the
    DRAM arbiter.

    A compact VPU (``config.compact``) queues only the instruction bits each queue's
    instructions can set, numbers instructions with 16 bits (ERROR_INDEX is the index
    modulo 2**16; past 2**16 instructions a TIMEOUT or DEADLOCK may name a younger
    one) and finds the oldest instruction not retired in the cycle of the error.

    Ports (see docs/rtl.md; clock ``clk``, synchronous reset ``rst``):
        csr (Out RegisterPort): the memory-mapped register port (kiln.hw.registers).
        dram (Out DramPort(config.dram_bus_bytes)): the DRAM port (VPU is master).
    """

    def __init__(self, config):
        config.validate()
        self.config = config
        super().__init__({"csr": Out(RegisterPort()),
                          "dram": Out(DramPort(config.dram_bus_bytes))})

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        buffer_depth = max(8, cfg.dram_latency + 8)

        m.submodules.control = control = ControlRegisters(cfg)
        m.submodules.fetch = fetch = InstructionFetch(cfg.dram_bus_bytes, buffer_depth,
                                                      compact=cfg.compact)
        m.submodules.decoder = decoder = InstructionDecoder()
        # A compact arbiter forwards a request the cycle it is granted: reads in flight
        # are bounded by the DRAM latency and the round trip through the grant.
        max_reads = cfg.dram_latency + 2 if cfg.compact else 2 * buffer_depth
        m.submodules.arbiter = arbiter = DramArbiter(cfg.dram_bus_bytes, 3, max_reads=max_reads,
                                                     compact=cfg.compact)
        m.submodules.load = load = LoadEngine(cfg, buffer_depth)
        m.submodules.compute = compute = ComputeEngine(cfg)
        m.submodules.store = store = StoreEngine(cfg)
        m.submodules.scratchpad = sp = scratchpad(cfg, read_ports=3)
        m.submodules.accumulator = acc = accumulator(cfg, read_ports=3)
        wiring.connect(m, wiring.flipped(self.csr), control.csr)
        wiring.connect(m, wiring.flipped(self.dram), arbiter.memory)
        wiring.connect(m, fetch.dram, arbiter.master0)
        wiring.connect(m, load.dram, arbiter.master1)
        wiring.connect(m, store.dram, arbiter.master2)

        # ---- memories: compute writes first, LOAD waits; read ports by owner ----
        m.d.comb += [
            sp.write.addr.eq(Mux(compute.sp_write.en, compute.sp_write.addr, load.sp_write.addr)),
            sp.write.data.eq(Mux(compute.sp_write.en, compute.sp_write.data, load.sp_write.data)),
            sp.write.en.eq(compute.sp_write.en | load.sp_write.en),
            load.sp_write_ready.eq(~compute.sp_write.en),
            acc.write.addr.eq(Mux(compute.acc_write.en, compute.acc_write.addr,
                                  load.acc_write.addr)),
            acc.write.data.eq(Mux(compute.acc_write.en, compute.acc_write.data,
                                  load.acc_write.data)),
            acc.write.en.eq(compute.acc_write.en | load.acc_write.en),
            load.acc_write_ready.eq(~compute.acc_write.en),
        ]
        wiring.connect(m, compute.sp_read_a, sp.read0)
        wiring.connect(m, compute.sp_read_b, sp.read1)
        wiring.connect(m, store.sp_read, sp.read2)
        wiring.connect(m, compute.acc_read_a, acc.read0)
        wiring.connect(m, compute.acc_read_b, acc.read1)
        wiring.connect(m, store.acc_read, acc.read2)

        # ---- run state ----
        index_bits = COMPACT_INDEX_BITS if cfg.compact else 32
        running = Signal()
        done = Signal()
        error = Signal()
        error_code = Signal(8)
        error_index = Signal(index_bits)
        finish_seen = Signal()
        fetch_index = fetch.index[:index_bits]

        # ---- command queues, sequencers, tokens ----
        depths = {"load": cfg.load_queue_depth, "compute": cfg.compute_queue_depth,
                  "store": cfg.store_queue_depth}
        # A compact VPU queues only the instruction bits its engine reads (the rest read 0).
        held = {name: queue_bits(Queue(name)) if cfg.compact else ((0, INSTRUCTION_BITS),)
                for name in QUEUES}
        # A compact VPU's sequencer is each queue's last slot (QueueSequencer ``slot``),
        # with depth - 1 entries in front of it; a queue of depth 1 is the sequencer alone.
        fifo_depths = {name: depths[name] - 1 if cfg.compact else depths[name]
                       for name in QUEUES}
        queues, sequencers = {}, {}
        pending, holding, head_index = {}, {}, {}
        for name in QUEUES:
            payload = sum(width for _, width in held[name])
            seq = sequencers[name] = m.submodules[f"{name}_sequencer"] = QueueSequencer(
                index_bits, slot=cfg.compact)
            slot = seq.waiting if cfg.compact else Const(0)
            # the sequencer holds an instruction (waiting for its tokens, or executing)
            holding[name] = seq.running | slot
            pending[name] = slot  # an instruction of this queue not yet started
            head_index[name] = seq.index
            if fifo_depths[name]:
                queues[name] = m.submodules[f"{name}_queue"] = fifo.SyncFIFO(
                    width=payload + index_bits, depth=fifo_depths[name])
                pending[name] = pending[name] | queues[name].r_rdy
                head_index[name] = queues[name].r_data[payload:]
        engines = {"load": load, "compute": compute, "store": store}
        for name in QUEUES:
            seq, engine = sequencers[name], engines[name]
            if name in queues:
                queue = queues[name]
                position = 0
                for offset, width in held[name]:
                    m.d.comb += seq.head[offset:offset + width].eq(
                        queue.r_data[position:position + width])
                    position += width
                m.d.comb += [
                    seq.head_index.eq(head_index[name]),
                    seq.head_valid.eq(queue.r_rdy & running),
                    queue.r_en.eq(seq.head_pop | ~running),
                ]
            if cfg.compact:
                m.d.comb += seq.flush.eq(~running)
            m.d.comb += [
                engine.start.eq(seq.start),
                engine.instruction.eq(seq.instruction),
            ]
        # A STORE completes when its last write has left the arbiter for DRAM, so that
        # a later LOAD (or the host, after DONE) reads what it wrote.
        m.d.comb += [sequencers["load"].engine_busy.eq(load.busy),
                     sequencers["compute"].engine_busy.eq(compute.busy),
                     sequencers["store"].engine_busy.eq(store.busy | arbiter.pending[2])]
        tokens = {}
        for source, sink in (("load", "compute"), ("compute", "load"),
                             ("compute", "store"), ("store", "compute")):
            tokens[source, sink] = m.submodules[f"tokens_{source}_to_{sink}"] = \
                TokenFifo(cfg.token_queue_depth)
            m.d.comb += tokens[source, sink].clear.eq(control.start)
        neighbours = {"load": (None, "compute"), "compute": ("load", "store"),
                      "store": ("compute", None)}
        for name in QUEUES:
            seq = sequencers[name]
            prev, next_ = neighbours[name]
            for side, other in (("prev", prev), ("next", next_)):
                if other is None:
                    m.d.comb += [getattr(seq, f"{side}_can_pop").eq(0),
                                 getattr(seq, f"{side}_can_push").eq(0)]
                    continue
                incoming, outgoing = tokens[other, name], tokens[name, other]
                m.d.comb += [
                    getattr(seq, f"{side}_can_pop").eq(incoming.can_pop),
                    incoming.pop.eq(getattr(seq, f"pop_{side}")),
                    getattr(seq, f"{side}_can_push").eq(outgoing.can_push),
                    outgoing.push.eq(getattr(seq, f"push_{side}")),
                ]

        # ---- fetch and dispatch ----
        m.d.comb += [
            fetch.start.eq(control.start),
            fetch.base.eq(control.program_address),
            fetch.count.eq(control.program_count),
            decoder.instruction.eq(fetch.instruction),
        ]
        dispatching = fetch.valid & running & ~finish_seen
        target_ready = Signal()
        with m.Switch(decoder.queue):
            for name in QUEUES:
                with m.Case(QUEUE_CODES[Queue(name)]):
                    m.d.comb += target_ready.eq(queues[name].w_rdy if name in queues
                                                else ~holding[name])
        for name in QUEUES:
            code = QUEUE_CODES[Queue(name)]
            dispatch = dispatching & ~decoder.illegal & ~decoder.finish & (decoder.queue == code)
            if name in queues:
                m.d.comb += [
                    queues[name].w_data.eq(Cat(*(fetch.instruction[offset:offset + width]
                                                 for offset, width in held[name]),
                                               fetch_index)),
                    queues[name].w_en.eq(dispatch),
                ]
            else:  # straight into the sequencer's slot
                m.d.comb += [sequencers[name].head.eq(fetch.instruction),
                             sequencers[name].head_index.eq(fetch_index),
                             sequencers[name].head_valid.eq(dispatch)]
        stall_fetch = dispatching & ~decoder.illegal & ~decoder.finish & ~target_ready
        m.d.comb += fetch.ready.eq(Mux(dispatching, decoder.illegal | decoder.finish
                                       | target_ready, 1))

        # ---- the oldest instruction not yet retired (for TIMEOUT and DEADLOCK) ----
        # A three-stage pipeline (candidates, pairs, minimum), so ``oldest`` shows the
        # state of three cycles earlier; a deadlock is declared only once the queues
        # have been blocked that long, when nothing has moved since. A compact VPU
        # (slow clock) finds the minimum combinationally, of this cycle's state.
        stage = "comb" if cfg.compact else "sync"
        candidates = []
        for name in QUEUES:
            seq = sequencers[name]
            valid = Signal(name=f"{name}_pending")
            index = Signal(index_bits, name=f"{name}_oldest")
            m.d[stage] += [valid.eq(holding[name] | pending[name]),
                           index.eq(Mux(holding[name], seq.index, head_index[name]))]
            candidates.append((valid, index))
        fetched = Signal(index_bits)
        m.d[stage] += fetched.eq(fetch_index)
        candidates.append((Const(1), fetched))

        def older(first, second, name):
            valid, index = Signal(name=f"{name}_valid"), Signal(index_bits, name=name)
            take_first = first[0] & (~second[0] | (first[1] < second[1]))
            m.d[stage] += [valid.eq(first[0] | second[0]),
                           index.eq(Mux(take_first, first[1], second[1]))]
            return valid, index

        pair_a = older(candidates[0], candidates[1], "oldest_load_compute")
        pair_b = older(candidates[2], candidates[3], "oldest_store_fetch")
        _, oldest = older(pair_a, pair_b, "oldest")

        # ---- completion, errors, watchdog, deadlock ----
        idle = Signal()
        m.d.comb += idle.eq(Cat(*[~pending[n] & ~sequencers[n].running
                                  for n in QUEUES]).all() & ~fetch.draining)
        blocked = Cat(*[sequencers[n].stall | (~sequencers[n].running & ~pending[n])
                        for n in QUEUES]).all()
        waiting = Cat(*[sequencers[n].stall for n in QUEUES]).any()
        blocked_cycles = Signal(2)  # consecutive cycles every queue was blocked, up to 3
        stuck = running & blocked & waiting & (finish_seen | stall_fetch)
        m.d.sync += blocked_cycles.eq(Mux(stuck, blocked_cycles + (blocked_cycles != 3), 0))
        deadlocked = (blocked_cycles == 3) & stuck

        def fail(code, index):
            return [running.eq(0), error.eq(1), error_code.eq(code), error_index.eq(index)]

        with m.If(running):
            with m.If(dispatching & decoder.illegal):
                m.d.sync += fail(ErrorCode.ILLEGAL_OPCODE, fetch_index)
            with m.Elif(dispatching & decoder.finish):
                m.d.sync += finish_seen.eq(1)
            with m.Elif(~finish_seen & ~fetch.busy):
                # The last instruction fetched, as the ISA simulator reports it.
                last = Mux(control.program_count != 0, control.program_count - 1, 0)
                m.d.sync += fail(ErrorCode.NO_FINISH, last)
            with m.If((control.watchdog != 0) & (control.cycles >= control.watchdog)):
                m.d.sync += fail(ErrorCode.TIMEOUT, oldest)
            with m.Elif(deadlocked):
                m.d.sync += fail(ErrorCode.DEADLOCK, oldest)
            with m.Elif(finish_seen & idle):
                m.d.sync += [running.eq(0), done.eq(1)]
        m.d.comb += fetch.stop.eq(~running | finish_seen | (dispatching & (decoder.finish
                                                                          | decoder.illegal)))
        with m.If(control.clear):
            m.d.sync += [done.eq(0), error.eq(0), error_code.eq(0), error_index.eq(0)]
        with m.If(control.start):
            m.d.sync += [running.eq(1), done.eq(0), error.eq(0), error_code.eq(0),
                         error_index.eq(0), finish_seen.eq(0)]

        retired = Signal(2)
        m.d.comb += retired.eq(sequencers["load"].retire + sequencers["compute"].retire
                               + sequencers["store"].retire + (running & finish_seen & idle))
        m.d.comb += [
            control.running.eq(running), control.done.eq(done), control.error.eq(error),
            control.error_code.eq(error_code), control.error_index.eq(error_index),
            control.retired.eq(retired),
            control.macs.eq(compute.macs),
            control.read_bytes.eq(load.read_bytes),
            control.write_bytes.eq(store.write_bytes),
            control.busy_load.eq(sequencers["load"].running),
            control.busy_compute.eq(sequencers["compute"].running),
            control.busy_store.eq(sequencers["store"].running),
            control.stall_load.eq(sequencers["load"].stall),
            control.stall_compute.eq(sequencers["compute"].stall),
            control.stall_store.eq(sequencers["store"].stall),
            control.stall_fetch.eq(stall_fetch),
        ]
        return m
