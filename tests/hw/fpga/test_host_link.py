"""The UART host link on the board top level, in the HDL simulator, against a register file."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth import Module, Signal
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import Out
from kiln.drivers.vpu.board_link import HostLink
from kiln.hw.fpga.board_top import BoardTop
from kiln.hw.fpga.errors import HostLinkError
from kiln.hw.fpga.link_protocol import (
    INFO_BYTES,
    MAX_BLOCK_BYTES,
    MAX_CSR_WORDS,
    REQUEST_SYNC,
    RESPONSE_SYNC,
    Command,
    Status,
    crc8,
    encode_request,
)
from kiln.hw.fpga.simulated_board import SimulatedBoard
from kiln.hw.rtl.ports import REGISTER_ADDRESS_BITS, DramPort, RegisterPort

CLOCK_HZ = 1_000_000
DIVISOR = 4
BAUD = CLOCK_HZ // DIVISOR
DRAM_BYTES = 512
TIMEOUT_CYCLES = 3000
CSR_BYTES = 1 << REGISTER_ADDRESS_BITS


class RegisterFile(wiring.Component):
    """Eight read/write registers at byte addresses 0..28 and a DRAM port left idle."""

    def __init__(self):
        super().__init__({"csr": Out(RegisterPort()), "dram": Out(DramPort(4))})

    def elaborate(self, platform):
        m = Module()
        m.submodules.regs = regs = memory.Memory(shape=32, depth=8, init=[])
        write, read = regs.write_port(), regs.read_port()
        mapped = Signal()
        m.d.comb += [
            write.addr.eq(self.csr.addr[2:5]),
            write.data.eq(self.csr.wdata),
            write.en.eq(self.csr.we & (self.csr.addr < 32)),
            read.addr.eq(self.csr.addr[2:5]),
        ]
        m.d.sync += mapped.eq(self.csr.addr < 32)
        m.d.comb += self.csr.rdata.eq(read.data & mapped.replicate(32))
        return m


@pytest.fixture
def board():
    top = BoardTop(RegisterFile(), bus_bytes=4, dram_bytes=DRAM_BYTES, clock_hz=CLOCK_HZ,
                   divisor=DIVISOR, timeout_cycles=TIMEOUT_CYCLES)
    stream = SimulatedBoard(top)
    yield stream
    stream.close()


@pytest.fixture
def link(board):
    return HostLink(board, BAUD, bridge_timeout_s=2 * TIMEOUT_CYCLES / CLOCK_HZ)


def test_info_reports_the_board(link):
    info = link.info()
    assert (info.dram_bytes, info.clock_hz, info.baud) == (DRAM_BYTES, CLOCK_HZ, BAUD)


def test_registers_round_trip(link):
    values = [0xDEADBEEF, 0, 0xFFFFFFFF, 0x12345678]
    for i, value in enumerate(values):
        link.write_csr(4 * i, value)
    assert [link.read_csr(4 * i) for i in range(len(values))] == values
    assert link.read_csr(0x40) == 0  # unmapped registers read 0


@pytest.mark.parametrize("offset,length", [(0, 1), (3, 5), (1, 13), (DRAM_BYTES - 7, 7)])
def test_dram_round_trip_with_guard_bytes(link, offset, length):
    rng = np.random.default_rng(offset * 31 + length)
    guard = bytes([0xA5]) * 4
    lo = max(offset - 4, 0)
    hi = min(offset + length + 4, DRAM_BYTES)
    link.write_dram(lo, guard[: offset - lo])
    link.write_dram(offset + length, guard[: hi - offset - length])
    data = rng.integers(0, 256, length, dtype=np.uint8).tobytes()
    link.write_dram(offset, data)
    assert link.read_dram(lo, hi - lo) == guard[: offset - lo] + data + guard[
        : hi - offset - length]


def test_out_of_range_access_is_refused(link):
    with pytest.raises(HostLinkError, match="WRITE_DRAM at 0x1fc: board answered OUT_OF_RANGE"):
        link.write_dram(DRAM_BYTES - 4, bytes(8))
    with pytest.raises(HostLinkError, match="READ_CSR at 0x2: board answered OUT_OF_RANGE"):
        link.read_csr(2)


def _expected_status(command, address, argument, dram_bytes):
    """The status the protocol gives a request with a good CRC (docs/fpga.md)."""
    if command == Command.INFO:
        return Status.OK
    if command in (Command.WRITE_DRAM, Command.READ_DRAM):
        fits = argument <= MAX_BLOCK_BYTES and address + argument <= dram_bytes
    elif command in (Command.WRITE_CSR, Command.READ_CSR):
        fits = address < CSR_BYTES and address % 4 == 0
        if command == Command.READ_CSR:
            fits &= 1 <= argument <= MAX_CSR_WORDS and address + 4 * argument <= CSR_BYTES
    else:
        return Status.BAD_COMMAND
    return Status.OK if fits else Status.OUT_OF_RANGE


def _status_cases(dram_bytes):
    top = 0xFFFF_FFFF
    return [
        (Command.INFO, 0x1234, 7), (Command.WRITE_CSR, CSR_BYTES - 4, 1),
        (Command.WRITE_CSR, CSR_BYTES, 1), (Command.WRITE_CSR, 6, 1),
        (Command.WRITE_CSR, top - 3, 1), (Command.READ_CSR, CSR_BYTES - 4, 1),
        (Command.READ_CSR, CSR_BYTES - 4, 2), (Command.READ_CSR, CSR_BYTES - 128, 32),
        (Command.READ_CSR, CSR_BYTES - 124, 32), (Command.READ_CSR, 0, 0),
        (Command.READ_CSR, 0, 33), (Command.READ_CSR, 0, 1 << 31 | 1),
        (Command.READ_CSR, 1 << 31, 1), (Command.READ_DRAM, dram_bytes - 3, 3),
        (Command.READ_DRAM, dram_bytes - 3, 4), (Command.READ_DRAM, dram_bytes, 0),
        (Command.READ_DRAM, dram_bytes + 1, 0), (Command.READ_DRAM, 0, MAX_BLOCK_BYTES + 1),
        (Command.READ_DRAM, 0, 1 << 31), (Command.READ_DRAM, top, 1),
        (Command.READ_DRAM, 1 << 20, 0), (Command.WRITE_DRAM, dram_bytes - 2, 4),
        (Command.WRITE_DRAM, dram_bytes, 0), (Command.WRITE_DRAM, 0, MAX_BLOCK_BYTES + 1),
        (5, 0, 0), (8, 0, 0), (0x83, 0, 0),
    ]


@pytest.mark.parametrize("dram_bytes", [DRAM_BYTES, 16 * 1024])
def test_statuses_follow_the_protocol(dram_bytes):
    top = BoardTop(RegisterFile(), bus_bytes=4, dram_bytes=dram_bytes, clock_hz=CLOCK_HZ,
                   divisor=DIVISOR, timeout_cycles=TIMEOUT_CYCLES)
    board = SimulatedBoard(top)
    for command, address, argument in _status_cases(dram_bytes):
        status = _expected_status(command, address, argument, dram_bytes)
        payload = b""
        if command == Command.WRITE_DRAM and 1 <= argument <= MAX_BLOCK_BYTES:
            payload = bytes(range(argument))  # taken even when out of range, never written
        body = bytes([command]) + address.to_bytes(4, "little") + argument.to_bytes(4, "little")
        board.write(bytes([REQUEST_SYNC]) + body + payload + bytes([crc8(body + payload)]))
        answer = 0
        if status == Status.OK:
            answer = {Command.INFO: INFO_BYTES, Command.READ_CSR: 4 * argument,
                      Command.READ_DRAM: argument}.get(command, 0)
        response = _raw_response(board, 3 + answer)
        where = f"{command:#x} at {address:#x}, {argument:#x}"
        assert response[:2] == bytes([RESPONSE_SYNC, status]), where
        assert crc8(response[1:-1]) == response[-1], where
    board.write(encode_request(Command.READ_DRAM, dram_bytes - 4, 4))
    assert _raw_response(board, 7)[2:6] == bytes(4)  # the refused WRITE_DRAM wrote nothing
    board.close()


def _raw_response(board, size):
    return board.read(size, timeout_s=0.05)


def test_corrupted_request_answers_bad_crc_and_is_not_executed(board, link):
    link.write_csr(4, 7)
    request = bytearray(encode_request(Command.WRITE_CSR, 4, 99))
    request[-1] ^= 0x10
    board.write(bytes(request))
    body = bytes([Status.BAD_CRC])
    assert _raw_response(board, 3) == bytes([RESPONSE_SYNC]) + body + bytes([crc8(body)])
    assert link.read_csr(4) == 7


def test_unknown_command_answers_bad_command(board):
    body = bytes([9]) + bytes(8)
    board.write(bytes([REQUEST_SYNC]) + body + bytes([crc8(body)]))
    status = bytes([Status.BAD_COMMAND])
    assert _raw_response(board, 3) == bytes([RESPONSE_SYNC]) + status + bytes([crc8(status)])


def test_truncated_request_is_dropped_and_link_recovers(board, link):
    board.write(encode_request(Command.WRITE_DRAM, 0, 16, bytes(16))[:12])
    board.pause(2 * TIMEOUT_CYCLES / CLOCK_HZ)
    assert board.read(0, 0.001) == b""
    link.write_csr(0, 5)
    assert link.read_csr(0) == 5


def test_a_lost_response_is_retried(board, link):
    class DroppingStream:
        """Forward to the board but lose the first response's bytes."""

        def __init__(self):
            self.dropped = False

        def __getattr__(self, name):
            return getattr(board, name)

        def read(self, size, timeout_s):
            if not self.dropped:
                self.dropped = True
                board.read(size, timeout_s)
                board.pause(0.001)
                board.discard_input()
                return bytes([0x00] * size)
            return board.read(size, timeout_s)

    flaky = HostLink(DroppingStream(), BAUD, bridge_timeout_s=2 * TIMEOUT_CYCLES / CLOCK_HZ)
    flaky.write_csr(8, 0xCAFE)
    assert link.read_csr(8) == 0xCAFE


def test_simulated_board_records_a_waveform(tmp_path):
    top = BoardTop(RegisterFile(), bus_bytes=4, dram_bytes=DRAM_BYTES, clock_hz=CLOCK_HZ,
                   divisor=DIVISOR, timeout_cycles=TIMEOUT_CYCLES)
    vcd = tmp_path / "board.vcd"
    stream = SimulatedBoard(top, vcd_path=str(vcd))
    HostLink(stream, BAUD).write_csr(4, 0x1234)
    stream.close()
    text = vcd.read_text()
    assert "uart_rx" in text and "uart_tx" in text
