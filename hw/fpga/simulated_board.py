"""A board in the HDL simulator: the real ``BoardTop`` behind a byte stream.

``SimulatedBoard`` runs the board top level in Amaranth's simulator and drives
its UART pins bit by bit, so a host driver talking to it exercises the same
UART, bridge, DRAM and VPU logic that goes into the bitstream.
"""

from __future__ import annotations

from collections import deque

from amaranth.sim import Simulator

from .errors import HostLinkTimeout

#: Simulated clock period in seconds (the value only scales the waveform's time axis).
CLOCK_PERIOD_S = 1e-8


class SimulatedBoard:
    """A byte stream (``write``/``read``/``close``) into a simulated ``BoardTop``.

    ``top`` is a ``BoardTop``; its ``divisor`` sets the simulated UART speed (use a
    small one, e.g. 4, so a transfer takes few cycles). ``vcd_path`` records every
    signal of the board into a VCD waveform (large for long runs).
    ``cycles`` counts the clock cycles simulated so far.
    """

    def __init__(self, top, *, vcd_path: str | None = None, step_cycles: int = 2000):
        self.top = top
        self.divisor = top.divisor
        self.step_cycles = step_cycles
        self.cycles = 0
        self._to_board: deque[int] = deque()
        self._from_board: deque[int] = deque()
        self._sim = Simulator(top)
        self._sim.add_clock(CLOCK_PERIOD_S)
        self._sim.add_testbench(self._drive_rx, background=True)
        self._sim.add_testbench(self._sample_tx, background=True)
        self._vcd = None
        if vcd_path is not None:
            self._vcd = self._sim.write_vcd(vcd_path)
            self._vcd.__enter__()

    @property
    def baud(self) -> int:
        """UART speed of the simulated board in bit/s of board time."""
        return round(self.top.clock_hz / self.divisor)

    @property
    def request_timeout_s(self) -> float:
        """The bridge's gap timeout in seconds of board time."""
        return self.top.timeout_cycles / self.top.clock_hz

    async def _ticks(self, ctx, count: int) -> None:
        # plain awaits: Amaranth's `repeat`/`until` generators warn when the simulator is dropped
        for _ in range(count):
            await ctx.tick()

    async def _drive_rx(self, ctx):
        line = self.top.uart_rx
        ctx.set(line, 1)
        while True:
            if not self._to_board:
                await self._ticks(ctx, self.divisor)
                continue
            byte = self._to_board.popleft()
            for bit in [0, *((byte >> i) & 1 for i in range(8)), 1]:
                ctx.set(line, bit)
                await self._ticks(ctx, self.divisor)

    async def _sample_tx(self, ctx):
        line = self.top.uart_tx
        while True:
            await ctx.negedge(line)
            await self._ticks(ctx, self.divisor // 2)
            if ctx.get(line):
                continue  # a glitch, not a start bit
            byte = 0
            for i in range(8):
                await self._ticks(ctx, self.divisor)
                byte |= ctx.get(line) << i
            await self._ticks(ctx, self.divisor)  # middle of the stop bit
            self._from_board.append(byte)

    def write(self, data: bytes) -> None:
        """Queue ``data`` to be sent to the board's UART receiver."""
        self._to_board.extend(data)

    def read(self, size: int, timeout_s: float) -> bytes:
        """Simulate until ``size`` bytes came from the board; return them.

        ``timeout_s`` is board time (cycles at the top level's ``clock_hz``). Raises
        HostLinkTimeout when fewer than ``size`` bytes arrived within it.
        """
        timeout_cycles = max(1, round(timeout_s * self.top.clock_hz))
        waited = 0
        while len(self._from_board) < size:
            if waited >= timeout_cycles:
                got = bytes(self._from_board)
                raise HostLinkTimeout(
                    f"simulated board sent {len(got)} of {size} bytes in {waited} cycles")
            self.advance(self.step_cycles)
            waited += self.step_cycles
        return bytes(self._from_board.popleft() for _ in range(size))

    def pause(self, seconds: float) -> None:
        """Simulate ``seconds`` of board time with the host sending nothing."""
        self.advance(max(1, round(seconds * self.top.clock_hz)))

    def discard_input(self) -> None:
        """Drop bytes the board sent that were not read yet."""
        self._from_board.clear()

    def advance(self, cycles: int) -> None:
        """Simulate ``cycles`` more clock cycles."""
        self.cycles += cycles
        self._sim.run_until(self.cycles * CLOCK_PERIOD_S)

    def close(self) -> None:
        """Finish the waveform file, if one is written."""
        if self._vcd is not None:
            self._vcd.__exit__(None, None, None)
            self._vcd = None
