"""The host-link bridge: turns protocol frames from a byte stream into CSR and DRAM accesses.

See ``link_protocol`` for the frame format; this module is its hardware side.
"""

from __future__ import annotations

from amaranth import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .link_protocol import (
    CRC_POLYNOMIAL,
    INFO_BYTES,
    INFO_MAGIC,
    MAX_BLOCK_BYTES,
    MAX_CSR_WORDS,
    REQUEST_HEADER_BYTES,
    REQUEST_SYNC,
    RESPONSE_SYNC,
    Command,
    Status,
)


def _crc8_taps() -> list[list[int]]:
    """Return, for each bit of the next CRC, the bits of ``crc ^ byte`` that XOR into it."""
    bits = [{i} for i in range(8)]  # CRC-8 is linear over GF(2): track which inputs feed each bit
    for _ in range(8):
        top = bits[7]
        shifted = [set()] + bits[:7]
        bits = [shifted[i] ^ top if (CRC_POLYNOMIAL >> i) & 1 else shifted[i] for i in range(8)]
    return [sorted(taps) for taps in bits]


_CRC8_TAPS = _crc8_taps()


def crc8_step(crc, byte):
    """Return the Amaranth expression of CRC-8 (poly 0x07) after one more ``byte``."""
    value = crc ^ byte
    return Cat(*(_xor_all([value[i] for i in taps]) for taps in _CRC8_TAPS))


def _ends_before(base, last, limit: int, last_bits: int):
    """Return whether ``base + last < limit``, for ``last < 2**last_bits``.

    When ``limit`` is a power of two above ``2**last_bits``, only the low ``last_bits``
    bits of ``base`` go through an adder: a ``base`` whose bits from ``last_bits`` up
    to ``limit`` are not all ones ends in range whatever ``last``.
    """
    limit_bits = limit.bit_length() - 1
    if limit != 1 << limit_bits or limit_bits <= last_bits:
        return base + last < limit
    return (base[limit_bits:] == 0) & (
        ~base[last_bits:limit_bits].all() | ~(base[:last_bits] + last)[last_bits])


def _end_within(base, length, limit: int, length_bits: int):
    """Return whether ``base + length <= limit``, for ``length <= 2**length_bits``.

    When ``limit`` is a power of two above ``2**length_bits``, only the low
    ``length_bits`` bits of ``base`` go through an adder: a ``base`` whose bits from
    ``length_bits`` up to ``limit`` are not all ones ends in range whatever the length.
    """
    limit_bits = limit.bit_length() - 1
    if limit != 1 << limit_bits or limit_bits <= length_bits:
        return base + length <= limit
    return (base[limit_bits:] == 0) & (
        ~base[length_bits:limit_bits].all() | (base[:length_bits] + length <= 1 << length_bits))


def _xor_all(bits):
    result = bits[0]
    for bit in bits[1:]:
        result = result ^ bit
    return result


class CsrBusSignature(wiring.Signature):
    """A 32-bit register bus seen from its initiator.

    Members:
        addr (Out, addr_width): byte address of the register (a multiple of 4).
        w_data (Out, 32): value written.
        w_en (Out, 1): write ``w_data`` at ``addr`` this cycle.
        r_en (Out, 1): read ``addr`` this cycle.
        r_data (In, 32): the value read, valid the cycle after ``r_en``.
    """

    def __init__(self, addr_width: int):
        super().__init__({
            "addr": Out(addr_width),
            "w_data": Out(32),
            "w_en": Out(1),
            "r_en": Out(1),
            "r_data": In(32),
        })


class ByteDramSignature(wiring.Signature):
    """A byte-wide DRAM port seen from its initiator, fixed one-cycle read latency.

    Members:
        addr (Out, 32): byte address.
        w_data (Out, 8): byte written.
        w_en (Out, 1): write ``w_data`` at ``addr`` this cycle.
        r_en (Out, 1): read ``addr`` this cycle.
        r_data (In, 8): the byte read, valid the cycle after ``r_en``.
    """

    def __init__(self):
        super().__init__({
            "addr": Out(32),
            "w_data": Out(8),
            "w_en": Out(1),
            "r_en": Out(1),
            "r_data": In(8),
        })


class HostLinkBridge(wiring.Component):
    """Execute host-link requests arriving on ``rx``; send the responses on ``tx``.

    The header is decoded as it arrives: its bytes shift through one 32-bit register,
    which holds the address after the fifth byte (copied into the access pointer, only
    as wide as the DRAM and CSR addresses, plus a flag for any higher address bit) and
    the argument after the last. The cycle after the last header byte the argument,
    less one, goes into the one down counter (of header bytes, then of payload or INFO
    bytes or registers); the cycle after that the status is settled, with a narrow add
    each for the DRAM block end and the CSR count. A WRITE_DRAM byte is written the
    cycle it arrives; the CRC byte decides BAD_CRC the cycle it arrives (it must equal
    the CRC so far), and a WRITE_CSR is written in that same cycle. One CRC-8 update
    serves the request's bytes, then the response's. A DRAM byte or a register is read
    and captured into the shift register in two cycles before its first byte is
    offered on ``tx``.

    Parameters:
        dram_bytes: DRAM size in bytes; accesses past it answer OUT_OF_RANGE.
        csr_bytes: size of the CSR window in bytes; reads and writes past it answer
            OUT_OF_RANGE.
        clock_hz, baud: reported by INFO so the host can check the link it opened.
        timeout_cycles: a request with a gap longer than this between two bytes is
            dropped and the bridge waits for a new sync byte.

    Ports:
        rx (In, stream of 8): request bytes (from the UART receiver; never back-pressured).
        tx (Out, stream of 8): response bytes (to the UART transmitter).
        csr (Out, CsrBusSignature): the VPU's register bus.
        dram (Out, ByteDramSignature): the host's port into the board DRAM (the address
            bits above the pointer are 0).
    """

    def __init__(self, *, dram_bytes: int, csr_bytes: int, clock_hz: int, baud: int,
                 timeout_cycles: int):
        if csr_bytes < 4 or csr_bytes & (csr_bytes - 1):
            raise ValueError(f"csr_bytes must be a power of two >= 4, got {csr_bytes}")
        self.dram_bytes = dram_bytes
        self.csr_bytes = csr_bytes
        self.clock_hz = int(clock_hz)
        self.baud = int(baud)
        self.timeout_cycles = timeout_cycles
        super().__init__({
            "rx": In(stream.Signature(8, always_ready=True)),
            "tx": Out(stream.Signature(8)),
            "csr": Out(CsrBusSignature(max((csr_bytes - 1).bit_length(), 1))),
            "dram": Out(ByteDramSignature()),
        })

    def elaborate(self, platform):
        m = Module()
        csr_bits = len(self.csr.addr)
        # Wide enough for every CSR address and for every DRAM address up to dram_bytes
        # itself (a zero-length block may start there).
        pointer_bits = max(self.dram_bytes.bit_length(), csr_bits)
        block_bits = MAX_BLOCK_BYTES.bit_length()

        shift = Signal(32)  # header bytes, then the register or DRAM byte being sent
        command = Signal(3)
        unknown = Signal()  # command byte above 7
        pointer = Signal(pointer_bits)
        above_pointer = Signal()  # address bits above the pointer's are not all 0
        # Header bytes, INFO bytes, DRAM bytes or registers left, less one; < 0: done.
        remaining = Signal(block_bits + 1)
        status = Signal(range(max(Status) + 1))
        crc = Signal(8)
        receiving = Signal()  # in a state that takes request bytes
        # Cycles since the last request byte; never counts past timeout_cycles, so it has
        # reached it once it has all of its one bits.
        idle = Signal(range(self.timeout_cycles + 1))
        expired = (idle & self.timeout_cycles) == self.timeout_cycles

        byte = self.rx.payload
        got = self.rx.valid
        argument = shift
        finished = remaining[-1]
        csr_aligned = ~above_pointer & (pointer[csr_bits:] == 0) & (pointer[:2] == 0)
        # The range checks run the cycle after the header, on the argument less one.
        small = argument[block_bits:] == 0
        last = remaining[:-1]  # offset of the last DRAM byte or register
        empty = small & finished
        block_fits = small & (finished | ~last[-1])
        block_in_range = block_fits & ~above_pointer & (
            _end_within(pointer, argument[:block_bits], self.dram_bytes, block_bits - 1)
            | (pointer == self.dram_bytes) & empty)
        count_bits = (MAX_CSR_WORDS - 1).bit_length()
        words_in_range = (small & (remaining[count_bits:] == 0)
                          & _ends_before(pointer[2:csr_bits], last[:count_bits],
                                         self.csr_bytes // 4, count_bits))

        # INFO's payload is constant: its bytes come from a table, not a shift register.
        info = Const(INFO_MAGIC | self.dram_bytes << 32 | self.clock_hz << 64 | self.baud << 96,
                     8 * INFO_BYTES)
        info_byte = Array(info.word_select(i, 8) for i in range(INFO_BYTES))[
            INFO_BYTES - 1 - remaining[:4]]
        read_data = Mux(command == Command.READ_CSR, self.csr.r_data, self.dram.r_data)

        # One decrementer; ``load`` takes the argument, complete the cycle after the header.
        load = Signal()
        count_down = Signal()
        with m.If(load | count_down):
            m.d.sync += remaining.eq(Mux(load, Mux(command == Command.INFO, INFO_BYTES,
                                                   argument[:block_bits]),
                                         remaining) - 1)

        # Every byte after the sync byte goes through one CRC update, received or sent.
        sent = Signal(8)  # the STATUS, INFO or read byte offered on tx
        crc_next = crc8_step(crc, Mux(receiving, byte, sent))

        m.d.comb += [
            self.csr.addr.eq(pointer),
            self.csr.w_data.eq(argument),
            self.dram.addr.eq(pointer),
            self.dram.w_data.eq(byte),
            self.tx.payload.eq(sent),
        ]

        with m.FSM() as fsm:
            with m.State("IDLE"):
                m.d.sync += [crc.eq(0), remaining.eq(REQUEST_HEADER_BYTES - 2)]
                with m.If(got & (byte == REQUEST_SYNC)):
                    m.next = "HEADER"
            with m.State("HEADER"):
                with m.If(expired):
                    m.next = "IDLE"
                with m.Elif(finished):  # the argument is complete in ``shift``
                    m.d.comb += load.eq(1)
                    m.next = "DECODE"
                with m.Elif(got):
                    m.d.comb += count_down.eq(1)
                    m.d.sync += shift.eq(Cat(shift[8:], byte))
                    with m.Switch(remaining[:4]):
                        with m.Case(REQUEST_HEADER_BYTES - 2):
                            m.d.sync += [command.eq(byte), unknown.eq(byte[3:] != 0)]
                        with m.Case(3):  # the address is complete in ``shift``
                            m.d.sync += [pointer.eq(shift),
                                         above_pointer.eq(shift[pointer_bits:] != 0)]
            with m.State("DECODE"):
                m.d.sync += status.eq(Status.OK)
                in_range = Mux(command == Command.WRITE_CSR, csr_aligned,
                               Mux(command == Command.READ_CSR, csr_aligned & words_in_range,
                                   block_in_range))
                with m.If(unknown | (command > Command.READ_DRAM)):
                    m.d.sync += status.eq(Status.BAD_COMMAND)
                with m.Elif((command != Command.INFO) & ~in_range):
                    m.d.sync += status.eq(Status.OUT_OF_RANGE)
                with m.If(~unknown & (command == Command.WRITE_DRAM) & ~empty & block_fits):
                    m.next = "PAYLOAD"
                with m.Else():
                    m.next = "CHECK"
            with m.State("PAYLOAD"):
                with m.If(expired):
                    m.next = "IDLE"
                with m.Elif(finished):
                    m.next = "CHECK"
                with m.Elif(got):
                    m.d.comb += [count_down.eq(1), self.dram.w_en.eq(status == Status.OK)]
                    m.d.sync += pointer.eq(pointer + 1)
            with m.State("CHECK"):
                with m.If(expired):
                    m.next = "IDLE"
                with m.Elif(got):
                    # The CRC byte matches the CRC so far; the response's CRC starts at 0.
                    m.d.sync += crc.eq(0)
                    with m.If(byte != crc):
                        m.d.sync += status.eq(Status.BAD_CRC)
                    with m.Elif((status == Status.OK) & (command == Command.WRITE_CSR)):
                        m.d.comb += self.csr.w_en.eq(1)
                    m.next = "SYNC"
            with m.State("SYNC"):
                m.d.comb += [self.tx.valid.eq(1), self.tx.payload.eq(RESPONSE_SYNC)]
                with m.If(self.tx.ready):
                    m.next = "STATUS"
            with m.State("STATUS"):
                m.d.comb += [self.tx.valid.eq(1), sent.eq(status)]
                with m.If(self.tx.ready):
                    with m.If((status == Status.OK) & (command == Command.INFO)):
                        m.next = "INFO"
                    with m.Elif((status == Status.OK) & ((command == Command.READ_CSR)
                                                        | (command == Command.READ_DRAM))):
                        m.next = "READ"
                    with m.Else():
                        m.next = "CRC"
            with m.State("INFO"):
                with m.If(finished):
                    m.next = "CRC"
                with m.Else():
                    m.d.comb += [self.tx.valid.eq(1), sent.eq(info_byte),
                                 count_down.eq(self.tx.ready)]
            with m.State("READ"):
                with m.If(finished):
                    m.next = "CRC"
                with m.Else():
                    m.d.comb += [self.csr.r_en.eq(command == Command.READ_CSR),
                                 self.dram.r_en.eq(command == Command.READ_DRAM),
                                 count_down.eq(1)]
                    m.next = "CAPTURE"
            with m.State("CAPTURE"):
                m.d.sync += shift.eq(read_data)
                m.next = "SEND"
            with m.State("SEND"):
                m.d.comb += [self.tx.valid.eq(1), sent.eq(shift[:8])]
                with m.If(self.tx.ready):
                    m.d.sync += [shift.eq(Cat(shift[8:], byte)), pointer.eq(pointer + 1)]
                    with m.If((command == Command.READ_DRAM) | (pointer[:2] == 3)):
                        m.next = "READ"
            with m.State("CRC"):
                m.d.comb += [self.tx.valid.eq(1), self.tx.payload.eq(crc)]
                with m.If(self.tx.ready):
                    m.next = "IDLE"

        m.d.comb += receiving.eq(fsm.ongoing("HEADER") | fsm.ongoing("PAYLOAD")
                                 | fsm.ongoing("CHECK"))
        with m.If((fsm.ongoing("HEADER") | fsm.ongoing("PAYLOAD")) & got
                  | ~receiving & self.tx.valid & self.tx.ready & ~fsm.ongoing("SYNC")
                  & ~fsm.ongoing("CRC")):
            m.d.sync += crc.eq(crc_next)
        with m.If(~receiving | got):
            m.d.sync += idle.eq(0)
        with m.Else():
            m.d.sync += idle.eq(idle + 1)
        return m
