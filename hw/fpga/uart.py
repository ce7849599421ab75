"""An 8N1 UART: a receiver and a transmitter, timed by a baud divisor in clock cycles per bit."""

from __future__ import annotations

from amaranth import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

#: Fewest clock cycles per bit the receiver can sample reliably (it samples mid-bit).
MIN_DIVISOR = 4


def baud_divisor(clock_hz: float, baud: int) -> int:
    """Return the clock cycles per UART bit for ``baud`` at ``clock_hz``, rounded to nearest.

    Raises ValueError when the divisor is below MIN_DIVISOR or the rounding error is
    above 2 %, which a UART at the far end would not tolerate.
    """
    divisor = round(clock_hz / baud)
    if divisor < MIN_DIVISOR:
        raise ValueError(
            f"baud {baud} is too fast for a {clock_hz / 1e6:g} MHz clock "
            f"(needs at least {MIN_DIVISOR} cycles per bit)")
    error = abs(clock_hz / divisor - baud) / baud
    if error > 0.02:
        raise ValueError(
            f"baud {baud} at {clock_hz / 1e6:g} MHz is off by {error:.1%} (divisor {divisor})")
    return divisor


class UartReceiver(wiring.Component):
    """Receive 8N1 bytes from a serial line: start bit, 8 data bits LSB first, stop bit.

    The line is synchronised through two flip-flops; a start bit is confirmed at its
    middle, then each bit is sampled ``divisor`` cycles apart into a shift register
    whose marker bit, shifted along with the data, tells when the eighth data bit is
    in. ``payload`` is that shift register: it holds the byte from ``valid`` until
    the middle of the next start bit, about one bit time later.

    Ports:
        rx (In, 1): the serial line, idle high.
        data (Out, stream of 8): a received byte, ``valid`` for one cycle at the middle
            of its stop bit; the receiver does not wait for ``ready`` (a UART cannot be
            paused), so a consumer must take a byte the cycle it is valid.
        framing_error (Out, 1): pulses for one cycle when a stop bit reads low; the byte
            is dropped.
    """

    def __init__(self, divisor: int):
        if divisor < MIN_DIVISOR:
            raise ValueError(f"UART divisor must be >= {MIN_DIVISOR}, got {divisor}")
        self.divisor = divisor
        super().__init__({
            "rx": In(1, init=1),
            "data": Out(stream.Signature(8, always_ready=True)),
            "framing_error": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        line = Signal(2, init=0b11)
        m.d.sync += line.eq(Cat(self.rx, line[0]))
        level = line[1]

        timer = Signal(range(self.divisor))
        shift = Signal(9)  # data bits arrive at the top; the marker bit reaches bit 0 last
        sample = timer == 0
        m.d.comb += self.data.payload.eq(shift[1:])
        m.d.sync += [self.data.valid.eq(0), self.framing_error.eq(0)]
        with m.If(~sample):
            m.d.sync += timer.eq(timer - 1)

        with m.FSM():
            with m.State("IDLE"):
                with m.If(~level):
                    m.d.sync += timer.eq(self.divisor // 2 - 1)
                    m.next = "START"
            with m.State("START"):
                with m.If(sample):
                    m.d.sync += [timer.eq(self.divisor - 1), shift.eq(1 << 8)]
                    with m.If(level):
                        m.next = "IDLE"  # a glitch, not a start bit
                    with m.Else():
                        m.next = "DATA"
            with m.State("DATA"):
                with m.If(sample):
                    m.d.sync += timer.eq(self.divisor - 1)
                    with m.If(~shift[0]):
                        m.d.sync += shift.eq(Cat(shift[1:], level))
                    with m.Elif(level):  # the stop bit
                        m.d.sync += self.data.valid.eq(1)
                        m.next = "IDLE"
                    with m.Else():
                        m.d.sync += self.framing_error.eq(1)
                        m.next = "BREAK"
            with m.State("BREAK"):
                with m.If(level):  # wait for the line to return to idle
                    m.next = "IDLE"
        return m


class UartTransmitter(wiring.Component):
    """Transmit 8N1 bytes on a serial line, ``divisor`` clock cycles per bit.

    Ports:
        data (In, stream of 8): the byte to send; taken when ``valid`` and ``ready``.
        tx (Out, 1): the serial line, idle high.
    """

    def __init__(self, divisor: int):
        if divisor < MIN_DIVISOR:
            raise ValueError(f"UART divisor must be >= {MIN_DIVISOR}, got {divisor}")
        self.divisor = divisor
        super().__init__({
            "data": In(stream.Signature(8)),
            "tx": Out(1, init=1),
        })

    def elaborate(self, platform):
        m = Module()
        timer = Signal(range(self.divisor))
        frame = Signal(10, init=0x3FF)  # stop bit, 8 data bits, start bit (sent LSB first)
        bits_left = Signal(range(11))

        m.d.comb += [self.tx.eq(frame[0]), self.data.ready.eq(bits_left == 0)]
        with m.If(bits_left == 0):
            with m.If(self.data.valid):
                m.d.sync += [
                    frame.eq(Cat(0, self.data.payload, 1)),
                    bits_left.eq(10),
                    timer.eq(self.divisor - 1),
                ]
        with m.Elif(timer == 0):
            m.d.sync += [
                frame.eq(Cat(frame[1:], 1)),
                bits_left.eq(bits_left - 1),
                timer.eq(self.divisor - 1),
            ]
        with m.Else():
            m.d.sync += timer.eq(timer - 1)
        return m
