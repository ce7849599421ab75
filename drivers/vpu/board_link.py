"""The host side of the board link: request/response exchanges over a byte stream.

The frame format is defined once in ``kiln.hw.fpga.link_protocol`` (and documented in
docs/fpga.md). A byte stream is any object with ``write(data: bytes)``,
``read(size: int, timeout_s: float) -> bytes`` (raising
``kiln.hw.fpga.errors.HostLinkTimeout`` when fewer bytes came in time),
``discard_input()`` (drop bytes received but not read), ``pause(seconds)`` (let the
link sit idle), ``close()``, and the attributes ``baud`` (bit/s) and
``request_timeout_s`` (the bridge's gap timeout):
``SerialStream`` for a real board, ``kiln.hw.fpga.simulated_board.SimulatedBoard`` for
the board top level in the HDL simulator.
"""

from __future__ import annotations

import os
import select
import struct
import termios
import time
from dataclasses import dataclass

from kiln.hw.fpga.board_design import REQUEST_TIMEOUT_S
from kiln.hw.fpga.errors import HostLinkError, HostLinkTimeout
from kiln.hw.fpga.link_protocol import (
    INFO_BYTES,
    INFO_MAGIC,
    MAX_BLOCK_BYTES,
    MAX_CSR_WORDS,
    RESPONSE_SYNC,
    Command,
    Status,
    crc8,
    encode_request,
)

#: Extra seconds allowed on top of a response's transfer time.
RESPONSE_SLACK_S = 0.05
#: Bit times a byte takes on the wire (start, 8 data, stop).
BITS_PER_BYTE = 10


@dataclass(frozen=True)
class BoardInfo:
    """What the board reports about itself (INFO): DRAM size in bytes, clock in Hz, baud."""

    dram_bytes: int
    clock_hz: int
    baud: int


class HostLink:
    """Speak the host-link protocol over ``stream`` at ``baud`` bits per second.

    Each call sends one request and checks the response's sync byte, status and CRC.
    A timed-out or corrupted exchange is retried up to ``retries`` times (after
    waiting out the bridge's own request timeout); then a HostLinkError names the
    command, the address and what went wrong.
    """

    def __init__(self, stream, baud: int, *, retries: int = 2, bridge_timeout_s: float = 0.0):
        self.stream = stream
        self.baud = baud
        self.retries = retries
        self.bridge_timeout_s = bridge_timeout_s

    def info(self) -> BoardInfo:
        """Ask the board for its INFO block; raise HostLinkError if the magic is wrong."""
        payload = self._exchange(Command.INFO, 0, 0, b"", INFO_BYTES)
        magic, dram_bytes, clock_hz, baud = struct.unpack("<4I", payload)
        if magic != INFO_MAGIC:
            raise HostLinkError(f"INFO: board answered magic {magic:#010x}, expected "
                                f"{INFO_MAGIC:#010x}: not a Kiln board top level")
        return BoardInfo(dram_bytes, clock_hz, baud)

    def write_csr(self, address: int, value: int) -> None:
        """Write the 32-bit register at byte ``address``."""
        self._exchange(Command.WRITE_CSR, address, value & 0xFFFFFFFF, b"", 0)

    def read_csr(self, address: int) -> int:
        """Return the 32-bit register at byte ``address``."""
        return self.read_csrs(address, 1)[0]

    def read_csrs(self, address: int, count: int) -> list[int]:
        """Return ``count`` consecutive 32-bit registers from byte ``address`` up, in order."""
        values: list[int] = []
        while len(values) < count:
            n = min(MAX_CSR_WORDS, count - len(values))
            where = address + 4 * len(values)
            raw = self._exchange(Command.READ_CSR, where, n, b"", 4 * n)
            values += struct.unpack(f"<{n}I", raw)
        return values

    def write_dram(self, address: int, data: bytes) -> None:
        """Write ``data`` to DRAM at byte ``address``, in blocks of MAX_BLOCK_BYTES."""
        for offset in range(0, len(data), MAX_BLOCK_BYTES):
            block = data[offset:offset + MAX_BLOCK_BYTES]
            self._exchange(Command.WRITE_DRAM, address + offset, len(block), block, 0)

    def read_dram(self, address: int, size: int) -> bytes:
        """Return ``size`` bytes of DRAM from byte ``address``, in blocks of MAX_BLOCK_BYTES."""
        parts = []
        for offset in range(0, size, MAX_BLOCK_BYTES):
            length = min(MAX_BLOCK_BYTES, size - offset)
            parts.append(self._exchange(Command.READ_DRAM, address + offset, length, b"",
                                        length))
        return b"".join(parts)

    def _wire_seconds(self, size: int) -> float:
        return size * BITS_PER_BYTE / self.baud

    def _exchange(self, command: Command, address: int, argument: int, payload: bytes,
                  answer_bytes: int) -> bytes:
        request = encode_request(command, address, argument, payload)
        timeout = self._wire_seconds(len(request) + answer_bytes + 3) * 2 + RESPONSE_SLACK_S
        what = f"{command.name} at {address:#x}"
        problem = ""
        for _ in range(self.retries + 1):
            try:
                self.stream.write(request)
                return self._response(command, answer_bytes, timeout, what)
            except HostLinkTimeout as error:
                problem = f"no answer: {error}"
            except _CorruptResponse as error:
                problem = str(error)
            self.stream.pause(self.bridge_timeout_s)
            self.stream.discard_input()
        raise HostLinkError(f"{what}: {problem} (after {self.retries + 1} attempts)")

    def _response(self, command: Command, answer_bytes: int, timeout: float, what: str) -> bytes:
        head = self.stream.read(2, timeout)
        if head[0] != RESPONSE_SYNC:
            raise _CorruptResponse(f"response starts with {head[0]:#04x}, not {RESPONSE_SYNC:#04x}")
        status = head[1]
        if status not in Status._value2member_map_:
            raise _CorruptResponse(f"unknown status byte {status:#04x}")
        size = answer_bytes if status == Status.OK else 0
        rest = self.stream.read(size + 1, timeout)
        body, crc = head[1:] + rest[:-1], rest[-1]
        if crc8(body) != crc:
            raise _CorruptResponse(f"response CRC {crc:#04x} does not match {crc8(body):#04x}")
        if status == Status.BAD_CRC:
            raise _CorruptResponse("the board saw a bad request CRC")
        if status != Status.OK:
            raise HostLinkError(f"{what}: board answered {Status(status).name}")
        return bytes(body[1:])


class _CorruptResponse(Exception):
    """A response damaged on the wire; the exchange is retried."""


class SerialStream:
    """A serial port (e.g. /dev/ttyUSB0) opened raw, 8N1, at ``baud``, with the standard library.

    Implements the byte-stream contract of this module: ``write``, ``read(size,
    timeout_s)``, ``close``.
    """

    def __init__(self, path: str, baud: int):
        speed = getattr(termios, f"B{baud}", None)
        if speed is None:
            raise HostLinkError(f"{path}: baud {baud} is not a standard termios speed")
        self.path = path
        self.baud = baud
        self.request_timeout_s = REQUEST_TIMEOUT_S
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        attrs = termios.tcgetattr(self.fd)
        attrs[0] = 0  # iflag: no translation, no flow control
        attrs[1] = 0  # oflag: raw output
        attrs[2] = termios.CS8 | termios.CREAD | termios.CLOCAL
        attrs[3] = 0  # lflag: no echo, not canonical
        attrs[4] = attrs[5] = speed
        termios.tcsetattr(self.fd, termios.TCSANOW, attrs)
        termios.tcflush(self.fd, termios.TCIOFLUSH)

    def write(self, data: bytes) -> None:
        """Send ``data``, waiting while the port's buffer is full."""
        view = memoryview(data)
        while view:
            select.select([], [self.fd], [])
            view = view[os.write(self.fd, view):]

    def read(self, size: int, timeout_s: float) -> bytes:
        """Return ``size`` bytes; raise HostLinkTimeout if they do not come within ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        data = bytearray()
        while len(data) < size:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                raise HostLinkTimeout(f"{self.path}: got {len(data)} of {size} bytes "
                                      f"in {timeout_s:.3f} s")
            data += os.read(self.fd, size - len(data))
        return bytes(data)

    def pause(self, seconds: float) -> None:
        """Leave the line idle for ``seconds``."""
        time.sleep(seconds)

    def discard_input(self) -> None:
        """Drop bytes received but not read."""
        termios.tcflush(self.fd, termios.TCIFLUSH)

    def close(self) -> None:
        """Close the port."""
        os.close(self.fd)
