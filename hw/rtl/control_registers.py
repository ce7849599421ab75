"""Control/status registers and performance counters on the memory-mapped register port.

The map (offsets, meanings) is ``kiln.hw.registers``; this block holds no
offset of its own.
"""

from amaranth import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .. import registers
from ..registers import Access
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

    Ports:
        csr (Out RegisterPort): the host's register port.
        start (Out, 1): CONTROL.START was written while idle (one-cycle pulse).
        clear (Out, 1): CONTROL.CLEAR was written (one-cycle pulse).
        program_address, program_count, watchdog (Out, 32): the RW registers.
        running, done, error (In, 1): STATUS bits BUSY, DONE, ERROR.
        error_code (In, 8), error_index (In, 32): ERROR_CODE, ERROR_INDEX.
        retired (In, 2): instructions retired this cycle (0..3).
        macs, read_bytes, write_bytes (In, 16): counter increments this cycle.
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

        wide = self.config.counter_bits
        counters = {name: Signal(wide, name=name.lower()) for name in COUNTERS_64}
        counters.update({name: Signal(32, name=name.lower()) for name in COUNTERS_32})
        retired = Signal(32)
        increments = {
            "CYCLES": 1, "MACS": self.macs, "DMA_READ_BYTES": self.read_bytes,
            "DMA_WRITE_BYTES": self.write_bytes, "BUSY_LOAD": self.busy_load,
            "BUSY_COMPUTE": self.busy_compute, "BUSY_STORE": self.busy_store,
            "STALL_LOAD": self.stall_load, "STALL_COMPUTE": self.stall_compute,
            "STALL_STORE": self.stall_store, "STALL_FETCH": self.stall_fetch,
        }
        with m.If(reset_counters):
            m.d.sync += [counter.eq(0) for counter in counters.values()]
            m.d.sync += retired.eq(0)
        with m.Elif(self.running):
            m.d.sync += [counters[name].eq(counters[name] + amount)
                         for name, amount in increments.items()]
            m.d.sync += retired.eq(retired + self.retired)
        m.d.comb += self.cycles.eq(counters["CYCLES"])

        high_words = {name: 0 for name in COUNTERS_64}  # 32-bit counters: HI reads 0
        if wide > 32:
            for name in COUNTERS_64:
                high_words[name] = Signal(32, name=f"{name.lower()}_hi")
                with m.If(csr.addr == registers.offset(f"{name}_LO")):
                    m.d.sync += high_words[name].eq(counters[name][32:])

        status = Signal(32)
        m.d.comb += status.eq((self.running << registers.bit("STATUS", "BUSY"))
                              | (self.done << registers.bit("STATUS", "DONE"))
                              | (self.error << registers.bit("STATUS", "ERROR")))
        values = {
            "STATUS": status, "ERROR_CODE": self.error_code, "ERROR_INDEX": self.error_index,
            "CONFIG_DIM": self.config.dim, "CONFIG_SP_DEPTH": self.config.sp_depth,
            "CONFIG_ACC_DEPTH": self.config.acc_depth, "RETIRED": retired, **stored,
        }
        for name in COUNTERS_64:
            values[f"{name}_LO"] = counters[name][:32]
            values[f"{name}_HI"] = high_words[name]
        for name in COUNTERS_32:
            values[name] = counters[name]
        with m.Switch(csr.addr):
            for reg in registers.REGISTERS:
                if reg.access is Access.WO:
                    continue
                with m.Case(reg.offset):
                    m.d.sync += csr.rdata.eq(values[reg.name])
            with m.Default():
                m.d.sync += csr.rdata.eq(0)
        return m
