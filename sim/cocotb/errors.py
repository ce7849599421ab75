"""Errors raised while building or running the RTL in an HDL simulator."""


class RtlSimulationError(Exception):
    """The HDL simulator could not be built or run, or a test bench failed."""


class WatchdogError(RtlSimulationError):
    """A program ran past its cycle budget without reaching FINISH."""


class CosimMismatchError(RtlSimulationError):
    """The RTL and the ISA simulator disagree on an output byte."""
