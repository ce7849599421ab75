"""Export Amaranth components, and the whole VPU, as Verilog text."""

from __future__ import annotations

from amaranth.back import verilog as amaranth_verilog


def component_verilog(component, name: str) -> str:
    """Return the Verilog of ``component`` as top module ``name``.

    The sync domain becomes the ports ``clk`` and ``rst`` (active-high,
    synchronous reset); every other port keeps its Amaranth name, with arrays
    and structures flattened into one vector (lane 0 in the least significant bits).
    """
    return amaranth_verilog.convert(component, name=name, emit_src=False)
