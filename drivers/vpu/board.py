"""The board transport: a VPU on an FPGA board, reached over the UART host link.

The board runs the bitstream of ``kiln hw bitstream``; this transport loads DRAM,
starts programs and reads results and counters through the registers of
``kiln.hw.registers``, speaking the protocol of ``kiln.hw.fpga.link_protocol``.
"""

from __future__ import annotations

import numpy as np
from kiln.drivers.vpu.board_link import HostLink, SerialStream
from kiln.drivers.vpu.transport import RunStats, Transport
from kiln.errors import DeviceError
from kiln.hw import registers
from kiln.hw.config import VPUConfig
from kiln.hw.fpga.errors import HostLinkError
from kiln.hw.fpga.link_protocol import MAX_BLOCK_BYTES
from kiln.hw.registers import COUNTERS, ErrorCode

#: UART speed of the bitstreams ``kiln hw bitstream`` builds by default, in bit/s.
DEFAULT_BAUD = 1_000_000
#: Transfers at least this large show a progress bar, in bytes.
PROGRESS_BYTES = 64 * 1024
#: Largest WATCHDOG value; a longer ``max_cycles`` is enforced from the host.
WATCHDOG_MAX = (1 << 32) - 1

_STATUS_BUSY = 1 << registers.bit("STATUS", "BUSY")
_STATUS_DONE = 1 << registers.bit("STATUS", "DONE")
_STATUS_ERROR = 1 << registers.bit("STATUS", "ERROR")
_START = 1 << registers.bit("CONTROL", "START")


class BoardTransport(Transport):
    """A `Transport` to a VPU board top level over a byte stream.

    ``port_or_stream`` is a serial device path (opened raw 8N1 at ``baud``) or an
    open byte stream (see ``kiln.drivers.vpu.board_link``), e.g. a
    ``kiln.hw.fpga.simulated_board.SimulatedBoard``. Opening checks the board's INFO
    block and that its VPU was built with ``config``'s dim, sp_depth and acc_depth.
    Link failures and failed runs raise `kiln.errors.DeviceError`.
    """

    name = "board"

    def __init__(self, port_or_stream, config: VPUConfig | None = None, *,
                 baud: int = DEFAULT_BAUD, progress: bool = True):
        self.config = config or VPUConfig()
        self.progress = progress
        if isinstance(port_or_stream, str):
            self.where = port_or_stream
            try:
                stream = SerialStream(port_or_stream, baud)
            except OSError as error:
                raise DeviceError(f"board {port_or_stream}: cannot open: {error}") from error
            except HostLinkError as error:
                raise DeviceError(f"board {error}") from error
        else:
            self.where = type(port_or_stream).__name__
            stream = port_or_stream
        self.stream = stream
        self.link = HostLink(stream, stream.baud, bridge_timeout_s=2 * stream.request_timeout_s)
        self.info = self._call("INFO", self.link.info)
        if abs(self.info.baud - stream.baud) > 0.02 * stream.baud:  # UART tolerance
            raise DeviceError(f"board {self.where}: the board runs its UART at {self.info.baud} "
                              f"baud, the port at {stream.baud}")
        self._check_config()

    def _call(self, what: str, function, *args):
        try:
            return function(*args)
        except HostLinkError as error:
            raise DeviceError(f"board {self.where}: {error}") from error

    def _read(self, name: str) -> int:
        return self._call(name, self.link.read_csr, registers.offset(name))

    def _registers(self, first: str, last: str) -> dict[str, int]:
        """Read the registers from ``first`` to ``last`` (by offset) in one exchange."""
        low, high = registers.offset(first), registers.offset(last)
        values = self._call(first, self.link.read_csrs, low, (high - low) // 4 + 1)
        named = {r.offset: r.name for r in registers.REGISTERS}
        return {named[low + 4 * i]: v for i, v in enumerate(values) if low + 4 * i in named}

    def _write(self, name: str, value: int) -> None:
        self._call(name, self.link.write_csr, registers.offset(name), value)

    def _check_config(self) -> None:
        built = self._registers("CONFIG_DIM", "CONFIG_ACC_DEPTH")
        for field in ("dim", "sp_depth", "acc_depth"):
            value = built[f"CONFIG_{field.upper()}"]
            if getattr(self.config, field) != value:
                raise DeviceError(
                    f"board {self.where}: its VPU has {field}={value}, but the program is "
                    f"compiled for VPUConfig.{field}={getattr(self.config, field)}; rebuild the "
                    f"bitstream with that config or compile for the board's")

    def _check_range(self, address: int, size: int, what: str) -> None:
        if address < 0 or size < 0 or address + size > self.info.dram_bytes:
            raise DeviceError(
                f"board {self.where}: {what} [{address:#x}, {address + size:#x}) is outside "
                f"the board's {self.info.dram_bytes}-byte DRAM")

    def write_dram(self, address: int, data: np.ndarray | bytes) -> None:
        """Copy ``data`` (bytes or any array, taken as raw bytes) into DRAM at ``address``."""
        raw = data.tobytes() if isinstance(data, np.ndarray) else bytes(data)
        self._check_range(address, len(raw), "write_dram")
        for offset in self._blocks(len(raw), f"write {len(raw)} B"):
            chunk = raw[offset:offset + MAX_BLOCK_BYTES]
            self._call("WRITE_DRAM", self.link.write_dram, address + offset, chunk)

    def read_dram(self, address: int, size: int) -> np.ndarray:
        """Return ``size`` bytes of DRAM from ``address`` as a uint8 array."""
        self._check_range(address, size, "read_dram")
        parts = [self._call("READ_DRAM", self.link.read_dram, address + offset,
                            min(MAX_BLOCK_BYTES, size - offset))
                 for offset in self._blocks(size, f"read {size} B")]
        return np.frombuffer(b"".join(parts), dtype=np.uint8).copy()

    def _blocks(self, size: int, what: str):
        from tqdm import tqdm

        offsets = range(0, size, MAX_BLOCK_BYTES)
        return tqdm(offsets, desc=f"board: {what}", unit="block", leave=False,
                    disable=not self.progress or size < PROGRESS_BYTES)

    def run(self, program_address: int, instruction_count: int, max_cycles: int) -> RunStats:
        """Run the program in DRAM at ``program_address`` until FINISH; return cycles and counters.

        ``max_cycles`` is enforced by the VPU's WATCHDOG register (or by the host when
        it exceeds 32 bits). A run that stops on an error raises DeviceError naming the
        error code, the instruction index at fault and the cycles run.
        """
        self._check_range(program_address, 16 * instruction_count, "program")
        watchdog = max_cycles if max_cycles <= WATCHDOG_MAX else 0
        self._write("PROGRAM_ADDRESS", program_address)
        self._write("PROGRAM_COUNT", instruction_count)
        self._write("WATCHDOG", watchdog)
        self._write("CONTROL", _START)
        while True:
            status = self._read("STATUS")
            if not status & _STATUS_BUSY and status & (_STATUS_DONE | _STATUS_ERROR):
                break
            if watchdog == 0 and self._counters()["cycles"] > max_cycles:
                raise DeviceError(
                    f"board {self.where}: program at {program_address:#x} did not finish "
                    f"within {max_cycles} cycles (retired {self._read('RETIRED')} "
                    "instructions); the VPU is still running: reset the board")
        counters = self._counters()
        cycles = counters.pop("cycles")
        if status & _STATUS_ERROR:
            error = self._registers("ERROR_CODE", "ERROR_INDEX")
            code = error["ERROR_CODE"]
            name = ErrorCode(code).name if code in ErrorCode._value2member_map_ else str(code)
            raise DeviceError(
                f"board {self.where}: run stopped with {name} at instruction "
                f"{error['ERROR_INDEX']} after {cycles} cycles (retired "
                f"{counters['retired']} of the program at {program_address:#x})")
        return RunStats(cycles=cycles, counters=counters)

    def _counters(self) -> dict[str, int]:
        """Read every performance counter (LO before HI: reading LO latches HI)."""
        names = [register for pair in COUNTERS.values() for register in pair]
        by_offset = sorted(names, key=registers.offset)
        values = {**self._registers(by_offset[0], by_offset[-1]),
                  "RETIRED": self._read("RETIRED")}
        return {name: sum(values[r] << (32 * i) for i, r in enumerate(pair))
                for name, pair in COUNTERS.items()}

    def close(self) -> None:
        """Close the serial port or stream."""
        self.stream.close()
