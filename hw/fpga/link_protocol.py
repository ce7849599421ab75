"""The host-link protocol between a host and the board's bridge: framing, commands, CRC-8.

One definition, used by the bridge (``HostLinkBridge``) and by the host driver
(``kiln.drivers.vpu.board``). All multi-byte fields are little-endian.

Request (host to board), always 11 bytes plus a payload::

    0xA5  cmd:u8  address:u32  argument:u32  payload[...]  crc:u8

Response (board to host)::

    0x5A  status:u8  payload[...]  crc:u8

``crc`` is CRC-8 (polynomial x^8+x^2+x+1, 0x07, initial value 0, no reflection) over
every byte after the sync byte up to the CRC. The host sends one request and waits
for its response before sending the next.

| cmd | name       | address            | argument         | request payload | response payload |
|-----|------------|--------------------|------------------|-----------------|------------------|
| 0   | INFO       | 0                  | 0                | none            | 16 bytes (below) |
| 1   | WRITE_CSR  | CSR byte address   | value            | none            | none             |
| 2   | READ_CSR   | CSR byte address   | register count n | none            | n values:u32     |
| 3   | WRITE_DRAM | DRAM byte address  | length in bytes  | ``length`` bytes| none             |
| 4   | READ_DRAM  | DRAM byte address  | length in bytes  | none            | ``length`` bytes |

READ_CSR reads ``n`` (1 to MAX_CSR_WORDS) consecutive registers from ``address`` up,
in order. INFO answers four u32: magic "KLN1", DRAM size in bytes, clock in Hz, baud.

A request whose CRC does not match gets status BAD_CRC and no payload, and is not
executed -- except WRITE_DRAM, whose bytes are written as they arrive: a BAD_CRC
answer means the range holds unknown bytes and the host must write it again. A
request with a gap longer than the bridge's timeout between two bytes is dropped
without an answer (the host times out and retries).
"""

from __future__ import annotations

import enum

REQUEST_SYNC = 0xA5
RESPONSE_SYNC = 0x5A
#: Bytes of a request before its payload: sync, cmd, address (4), argument (4).
REQUEST_HEADER_BYTES = 10
#: Answer of INFO, first word: ASCII "KLN1" little-endian.
INFO_MAGIC = 0x314E4C4B
INFO_BYTES = 16
#: Most consecutive registers one READ_CSR returns (``argument``, 1 or more).
MAX_CSR_WORDS = 32
#: Largest WRITE_DRAM/READ_DRAM length in one request, in bytes.
MAX_BLOCK_BYTES = 4096
CRC_POLYNOMIAL = 0x07


class Command(enum.IntEnum):
    """Request opcodes."""

    INFO = 0
    WRITE_CSR = 1
    READ_CSR = 2
    WRITE_DRAM = 3
    READ_DRAM = 4


class Status(enum.IntEnum):
    """Response status codes."""

    OK = 0
    BAD_CRC = 1
    BAD_COMMAND = 2
    OUT_OF_RANGE = 3


def crc8(data: bytes | bytearray, crc: int = 0) -> int:
    """Return the CRC-8 (polynomial 0x07, MSB first) of ``data``, continuing from ``crc``."""
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ CRC_POLYNOMIAL) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def encode_request(command: Command, address: int, argument: int, payload: bytes = b"") -> bytes:
    """Return the bytes of one request frame, CRC included."""
    if not 0 <= address < 1 << 32 or not 0 <= argument < 1 << 32:
        raise ValueError(f"{command.name}: address {address:#x} / argument {argument:#x} "
                         "must fit in 32 bits")
    body = bytes([command]) + address.to_bytes(4, "little") + argument.to_bytes(4, "little")
    body += payload
    return bytes([REQUEST_SYNC]) + body + bytes([crc8(body)])
