"""Errors of the FPGA flow and the host link (``hw/`` defines its own, imports no SDK)."""


class FpgaFlowError(Exception):
    """A bitstream build that cannot start or that the toolchain failed; names the step."""


class HostLinkError(Exception):
    """A host-link exchange that failed: bad CRC, bad status, malformed response."""


class HostLinkTimeout(HostLinkError):
    """The board did not answer in time."""
