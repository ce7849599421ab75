"""Control/status registers and performance counters on the memory-mapped register port.

The map (offsets, meanings) is ``kiln.hw.registers``; this block holds no
offset of its own.
"""

from amaranth import Array, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .. import registers
from ..registers import CSR_WINDOW_BYTES, Access
from .memories import RowMemory
from .ports import RegisterPort

COUNTERS_64 = ("CYCLES", "MACS", "DMA_READ_BYTES", "DMA_WRITE_BYTES")
COUNTERS_32 = ("BUSY_LOAD", "BUSY_COMPUTE", "BUSY_STORE", "STALL_LOAD", "STALL_COMPUTE",
               "STALL_STORE", "STALL_FETCH")


class ControlRegisters(wiring.Component):
    """The VPU's CSRs: run control, status, configuration and performance counters.

    Writes to read-only registers are ignored. Counters and RETIRED are cleared
    by ``CONTROL.START`` (when idle) and ``CONTROL.CLEAR``, count while ``running``
    and hold afterwards. CYCLES, MACS and DMA_*_BYTES are ``config.counter_bits``
    wide: at 64 bits, reading a counter's LO register (its address presented on the
    port) latches the HI word, so LO then HI read one value; at 32 bits (compact
    builds) they wrap and their HI registers read 0.

    A compact build keeps every counter but CYCLES in a block RAM: one counter per
    cycle, in turn, adds what it counted since its last turn (a few bits per counter,
    in flip-flops), so while a run is in progress those counters read up to 11
    cycles behind; STATUS keeps BUSY and shows DONE or ERROR
    12 cycles after the run ends, when they are exact. START and CLEAR still zero
    them at once.

    Ports:
        csr (Out RegisterPort): the host's register port.
        start (Out, 1): CONTROL.START was written while idle (one-cycle pulse).
        clear (Out, 1): CONTROL.CLEAR was written (one-cycle pulse).
        program_address, program_count, watchdog (Out, 32): the RW registers.
        running, done, error (In, 1): STATUS bits BUSY, DONE, ERROR.
        error_code (In, 8), error_index (In, 32): ERROR_CODE, ERROR_INDEX.
        retired (In, 2): instructions retired this cycle (0..3).
        macs, read_bytes, write_bytes (In, 16): counter increments this cycle (at most
            dim**2 MACs and acc_row_bytes bytes: a compact build counts no more).
        busy_load, busy_compute, busy_store (In, 1): an engine executes this cycle.
        stall_load, stall_compute, stall_store, stall_fetch (In, 1): a unit stalls.
        cycles (Out, config.counter_bits): the CYCLES counter (the watchdog compares
            against it).
    """

    def __init__(self, config):
        self.config = config
        members = {
            "csr": Out(RegisterPort()),
            "start": Out(1), "clear": Out(1),
            "program_address": Out(32), "program_count": Out(32), "watchdog": Out(32),
            "running": In(1), "done": In(1), "error": In(1),
            "error_code": In(8), "error_index": In(32),
            "retired": In(2),
            "macs": In(16), "read_bytes": In(16), "write_bytes": In(16),
            "cycles": Out(config.counter_bits),
        }
        for name in ("busy_load", "busy_compute", "busy_store", "stall_load", "stall_compute",
                     "stall_store", "stall_fetch"):
            members[name] = In(1)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        csr = self.csr
        write = csr.we
        control = registers.offset("CONTROL")
        start_bit = registers.bit("CONTROL", "START")
        clear_bit = registers.bit("CONTROL", "CLEAR")
        m.d.comb += [
            self.start.eq(write & (csr.addr == control) & csr.wdata[start_bit] & ~self.running),
            self.clear.eq(write & (csr.addr == control) & csr.wdata[clear_bit]),
        ]
        reset_counters = self.start | self.clear

        stored = {"PROGRAM_ADDRESS": self.program_address,
                  "PROGRAM_COUNT": self.program_count, "WATCHDOG": self.watchdog}
        for name, signal in stored.items():
            with m.If(write & (csr.addr == registers.offset(name))):
                m.d.sync += signal.eq(csr.wdata)

        increments = {
            "CYCLES": 1, "MACS": self.macs, "DMA_READ_BYTES": self.read_bytes,
            "DMA_WRITE_BYTES": self.write_bytes, "BUSY_LOAD": self.busy_load,
            "BUSY_COMPUTE": self.busy_compute, "BUSY_STORE": self.busy_store,
            "STALL_LOAD": self.stall_load, "STALL_COMPUTE": self.stall_compute,
            "STALL_STORE": self.stall_store, "STALL_FETCH": self.stall_fetch,
        }
        values = {
            "ERROR_CODE": self.error_code, "ERROR_INDEX": self.error_index,
            "CONFIG_DIM": self.config.dim, "CONFIG_SP_DEPTH": self.config.sp_depth,
            "CONFIG_ACC_DEPTH": self.config.acc_depth, **stored,
        }
        if self.config.compact:
            self._counter_bank(m, increments, reset_counters, values)
        else:
            self._counter_registers(m, increments, reset_counters, values)
        return m

    def _status(self, busy, done, error):
        return ((busy << registers.bit("STATUS", "BUSY"))
                | (done << registers.bit("STATUS", "DONE"))
                | (error << registers.bit("STATUS", "ERROR")))

    def _read_mux(self, m, values, rdata):
        """Register ``values[name]`` of the register at ``csr.addr`` into ``rdata`` (0 for
        unmapped and write-only addresses and for registers ``values`` lacks)."""
        with m.Switch(self.csr.addr):
            for reg in registers.REGISTERS:
                if reg.access is Access.WO or reg.name not in values:
                    continue
                with m.Case(reg.offset):
                    m.d.sync += rdata.eq(values[reg.name])
            with m.Default():
                m.d.sync += rdata.eq(0)

    def _counter_registers(self, m, increments, reset_counters, values):
        """Every counter in flip-flops, read through one multiplexer."""
        csr = self.csr
        wide = self.config.counter_bits
        counters = {name: Signal(wide, name=name.lower()) for name in COUNTERS_64}
        counters.update({name: Signal(32, name=name.lower()) for name in COUNTERS_32})
        retired = Signal(32)
        with m.If(reset_counters):
            m.d.sync += [counter.eq(0) for counter in counters.values()]
            m.d.sync += retired.eq(0)
        with m.Elif(self.running):
            m.d.sync += [counters[name].eq(counters[name] + amount)
                         for name, amount in increments.items()]
            m.d.sync += retired.eq(retired + self.retired)
        m.d.comb += self.cycles.eq(counters["CYCLES"])

        high_words = {name: Signal(32, name=f"{name.lower()}_hi") for name in COUNTERS_64}
        for name in COUNTERS_64:
            with m.If(csr.addr == registers.offset(f"{name}_LO")):
                m.d.sync += high_words[name].eq(counters[name][32:])

        status = Signal(32)
        m.d.comb += status.eq(self._status(self.running, self.done, self.error))
        values.update({"STATUS": status, "RETIRED": retired})
        for name in COUNTERS_64:
            values[f"{name}_LO"] = counters[name][:32]
            values[f"{name}_HI"] = high_words[name]
        for name in COUNTERS_32:
            values[name] = counters[name]
        self._read_mux(m, values, csr.rdata)

    def _counter_bank(self, m, increments, reset_counters, values):
        """CYCLES in flip-flops (the watchdog compares against it); the other counters in a
        block RAM, one written back per cycle in turn from a small pending count each."""
        csr = self.csr
        cycles = Signal(32)
        with m.If(reset_counters):
            m.d.sync += cycles.eq(0)
        with m.Elif(self.running):
            m.d.sync += cycles.eq(cycles + 1)
        m.d.comb += self.cycles.eq(cycles)

        # By register name: what the counter adds this cycle, and the most it adds.
        cfg = self.config
        banked = {"RETIRED": (self.retired, 3), "MACS_LO": (self.macs, cfg.dim ** 2),
                  "DMA_READ_BYTES_LO": (self.read_bytes, cfg.acc_row_bytes),
                  "DMA_WRITE_BYTES_LO": (self.write_bytes, cfg.acc_row_bytes),
                  **{name: (increments[name], 1) for name in COUNTERS_32}}
        turns = len(banked)
        # Counter k's word in the bank is its register's word offset (the host reads it by
        # address); pending[k] holds what it counted since its last write-back. Word 0
        # (CONTROL) is never written: it reads 0.
        offsets = [registers.offset(name) for name in banked]
        words = Array(Const(offset // 4, range(CSR_WINDOW_BYTES // 4)) for offset in offsets)
        pending = [Signal((turns * most).bit_length(), name=f"pending_{name.lower()}")
                   for name, (_, most) in banked.items()]
        stale = Signal(turns, init=(1 << turns) - 1)  # the bank's word is not yet 0 + pending
        m.submodules.bank = bank = RowMemory(32, CSR_WINDOW_BYTES // 4, read_ports=2,
                                             write_on_falling_edge=True)

        # Counter ``turn`` is read in this cycle (word 0 while stale) and written back in the
        # next (``writing``); that clears its stale bit if word 0 was read.
        turn = Signal(range(turns))
        writing = Signal(range(turns))
        zeroed = Signal()
        m.d.sync += [turn.eq(Mux(turn == turns - 1, 0, turn + 1)), writing.eq(turn),
                     zeroed.eq(stale.bit_select(turn, 1))]
        m.d.comb += [
            bank.read1.addr.eq(Mux(stale.bit_select(turn, 1), 0, words[turn])),
            bank.read1.en.eq(1),
            bank.write.addr.eq(words[writing]), bank.write.en.eq(1),
            bank.write.data.eq(bank.read1.data + Array(pending)[writing]),
        ]
        for k, (amount, most) in enumerate(banked.values()):
            counted = Mux(self.running, amount[:most.bit_length()], 0)
            with m.If(reset_counters):
                m.d.sync += pending[k].eq(0)
            with m.Elif(writing == k):
                m.d.sync += pending[k].eq(counted)
            with m.Else():
                m.d.sync += pending[k].eq(pending[k] + counted)
        with m.If(reset_counters):
            m.d.sync += stale.eq((1 << turns) - 1)
        with m.Elif(zeroed):
            m.d.sync += stale.bit_select(writing, 1).eq(0)

        # A run's last counts reach the bank ``turns`` cycles after it ends: until then
        # STATUS shows BUSY, not yet DONE or ERROR.
        settling = Signal(range(turns + 2))
        with m.If(self.running):
            m.d.sync += settling.eq(turns + 1)
        with m.Elif(settling != 0):
            m.d.sync += settling.eq(settling - 1)
        settled = settling == 0
        status = Signal(32)
        m.d.comb += status.eq(self._status(~settled | self.running, self.done & settled,
                                           self.error & settled))
        values.update({"STATUS": status, "CYCLES_LO": cycles})

        # The host reads a banked counter from the bank's other read port (0 while stale).
        from_bank = Signal()
        from_registers = Signal(32)
        m.d.comb += [bank.read0.addr.eq(csr.addr[2:]), bank.read0.en.eq(1)]
        m.d.sync += from_bank.eq(0)
        for k, offset in enumerate(offsets):
            with m.If(csr.addr == offset):
                m.d.sync += from_bank.eq(~stale[k])
        self._read_mux(m, values, from_registers)
        m.d.comb += csr.rdata.eq(Mux(from_bank, bank.read0.data, from_registers))
