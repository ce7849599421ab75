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
        dram (Out, ByteDramSignature): the host's port into the board DRAM.
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
        header = Signal(72)  # cmd, address, argument as received (little-endian)
        command = header[0:8]
        address = header[8:40]
        argument = header[40:72]
        header_count = Signal(range(9))

        rx_crc = Signal(8)
        tx_crc = Signal(8)
        status = Signal(8)
        remaining = Signal(range(MAX_BLOCK_BYTES + 1))
        pointer = Signal(32)
        word = Signal(32)  # the register READ_CSR sends, LSB first
        word_bytes = Signal(range(INFO_BYTES + 1))  # bytes of INFO / the register left to send
        tx_byte = Signal(8)
        idle_cycles = Signal(range(self.timeout_cycles + 1))

        byte = self.rx.payload
        got = self.rx.valid
        block_end = Signal(33)
        m.d.comb += block_end.eq(address + argument)
        block_in_range = (argument <= MAX_BLOCK_BYTES) & (block_end <= self.dram_bytes)
        csr_in_range = (address < self.csr_bytes) & (address[:2] == 0)
        csr_end = Signal(35)
        m.d.comb += csr_end.eq(address + (argument << 2))
        csr_count_in_range = ((argument != 0) & (argument <= MAX_CSR_WORDS)
                              & (csr_end <= self.csr_bytes))
        # INFO's payload is constant: its bytes come from a table, not a shift register.
        info = Const(INFO_MAGIC | self.dram_bytes << 32 | self.clock_hz << 64 | self.baud << 96,
                     8 * INFO_BYTES)
        info_byte = Array(info.word_select(i, 8) for i in range(INFO_BYTES))[
            INFO_BYTES - word_bytes]
        payload_byte = Mux(command == Command.INFO, info_byte, word[:8])

        m.d.comb += [
            self.csr.addr.eq(pointer),
            self.csr.w_data.eq(argument),
            self.dram.addr.eq(pointer),
            self.dram.w_data.eq(byte),
        ]

        def send(value, next_state):
            """Offer ``value`` on tx; go to ``next_state`` once it is taken."""
            m.d.comb += [self.tx.valid.eq(1), self.tx.payload.eq(value)]
            with m.If(self.tx.ready):
                m.next = next_state

        with m.FSM() as fsm:
            with m.State("IDLE"):
                with m.If(got & (byte == REQUEST_SYNC)):
                    m.d.sync += [rx_crc.eq(0), header_count.eq(0)]
                    m.next = "HEADER"
            with m.State("HEADER"):
                with m.If(idle_cycles == self.timeout_cycles):
                    m.next = "IDLE"
                with m.Elif(got):
                    m.d.sync += [
                        rx_crc.eq(crc8_step(rx_crc, byte)),
                        header.eq(Cat(header[8:], byte)),
                        header_count.eq(header_count + 1),
                    ]
                    with m.If(header_count == 8):
                        m.next = "DECODE"
            with m.State("DECODE"):
                m.d.sync += [pointer.eq(address), remaining.eq(argument),
                             status.eq(Status.OK)]
                with m.Switch(command):
                    with m.Case(Command.INFO):
                        pass
                    with m.Case(Command.WRITE_CSR):
                        with m.If(~csr_in_range):
                            m.d.sync += status.eq(Status.OUT_OF_RANGE)
                    with m.Case(Command.READ_CSR):
                        with m.If(~csr_in_range | ~csr_count_in_range):
                            m.d.sync += status.eq(Status.OUT_OF_RANGE)
                    with m.Case(Command.WRITE_DRAM, Command.READ_DRAM):
                        with m.If(~block_in_range):
                            m.d.sync += status.eq(Status.OUT_OF_RANGE)
                    with m.Default():
                        m.d.sync += status.eq(Status.BAD_COMMAND)
                with m.If((command == Command.WRITE_DRAM) & (argument != 0)
                          & (argument <= MAX_BLOCK_BYTES)):
                    m.next = "PAYLOAD"
                with m.Else():
                    m.next = "CHECK"
            with m.State("PAYLOAD"):
                with m.If(idle_cycles == self.timeout_cycles):
                    m.next = "IDLE"
                with m.Elif(got):
                    m.d.sync += [
                        rx_crc.eq(crc8_step(rx_crc, byte)),
                        pointer.eq(pointer + 1),
                        remaining.eq(remaining - 1),
                    ]
                    m.d.comb += self.dram.w_en.eq(status == Status.OK)
                    with m.If(remaining == 1):
                        m.next = "CHECK"
            with m.State("CHECK"):
                with m.If(idle_cycles == self.timeout_cycles):
                    m.next = "IDLE"
                with m.Elif(got):
                    with m.If(crc8_step(rx_crc, byte) != 0):
                        m.d.sync += status.eq(Status.BAD_CRC)
                    m.d.sync += pointer.eq(address)
                    m.next = "EXECUTE"
            with m.State("EXECUTE"):
                m.d.sync += [tx_crc.eq(0), word_bytes.eq(0)]
                m.next = "SEND_SYNC"
                with m.If(status == Status.OK):
                    with m.Switch(command):
                        with m.Case(Command.INFO):
                            m.d.sync += word_bytes.eq(INFO_BYTES)
                        with m.Case(Command.WRITE_CSR):
                            m.d.comb += self.csr.w_en.eq(1)
            with m.State("SEND_SYNC"):
                send(RESPONSE_SYNC, "SEND_STATUS")
            with m.State("SEND_STATUS"):
                m.d.comb += [self.tx.valid.eq(1), self.tx.payload.eq(status)]
                with m.If(self.tx.ready):
                    m.d.sync += tx_crc.eq(crc8_step(tx_crc, status))
                    with m.If(word_bytes != 0):
                        m.next = "SEND_WORD"
                    with m.Elif((status == Status.OK) & (command == Command.READ_DRAM)
                                & (remaining != 0)):
                        m.next = "READ_BYTE"
                    with m.Elif((status == Status.OK) & (command == Command.READ_CSR)):
                        m.next = "READ_CSR"
                    with m.Else():
                        m.next = "SEND_CRC"
            with m.State("SEND_WORD"):
                m.d.comb += [self.tx.valid.eq(1), self.tx.payload.eq(payload_byte)]
                with m.If(self.tx.ready):
                    m.d.sync += [
                        tx_crc.eq(crc8_step(tx_crc, payload_byte)),
                        word.eq(word >> 8),
                        word_bytes.eq(word_bytes - 1),
                    ]
                    with m.If(word_bytes == 1):
                        with m.If((command == Command.READ_CSR) & (remaining != 0)):
                            m.next = "READ_CSR"
                        with m.Else():
                            m.next = "SEND_CRC"
            with m.State("READ_CSR"):
                m.d.comb += self.csr.r_en.eq(1)
                m.d.sync += [pointer.eq(pointer + 4), remaining.eq(remaining - 1)]
                m.next = "CAPTURE_CSR"
            with m.State("CAPTURE_CSR"):
                m.d.sync += [word.eq(self.csr.r_data), word_bytes.eq(4)]
                m.next = "SEND_WORD"
            with m.State("READ_BYTE"):
                m.d.comb += self.dram.r_en.eq(1)
                m.d.sync += [pointer.eq(pointer + 1), remaining.eq(remaining - 1)]
                m.next = "LATCH_BYTE"
            with m.State("LATCH_BYTE"):
                m.d.sync += tx_byte.eq(self.dram.r_data)
                m.next = "SEND_BYTE"
            with m.State("SEND_BYTE"):
                m.d.comb += [self.tx.valid.eq(1), self.tx.payload.eq(tx_byte)]
                with m.If(self.tx.ready):
                    m.d.sync += tx_crc.eq(crc8_step(tx_crc, tx_byte))
                    with m.If(remaining == 0):
                        m.next = "SEND_CRC"
                    with m.Else():
                        m.next = "READ_BYTE"
            with m.State("SEND_CRC"):
                send(tx_crc, "IDLE")

        receiving = fsm.ongoing("HEADER") | fsm.ongoing("PAYLOAD") | fsm.ongoing("CHECK")
        with m.If(~receiving | got):
            m.d.sync += idle_cycles.eq(0)
        with m.Else():
            m.d.sync += idle_cycles.eq(idle_cycles + 1)
        return m
