"""Clock generation for board top levels: the ECP5 PLL (EHXPLLL) and its divider search."""

from __future__ import annotations

from dataclasses import dataclass

from amaranth import ClockDomain, ClockSignal, Elaboratable, Instance, Module, Signal
from amaranth.lib.cdc import ResetSynchronizer

from .errors import FpgaFlowError

#: ECP5 EHXPLLL limits (Lattice TN1263): phase detector input and VCO, in MHz.
ECP5_PFD_MHZ = (3.125, 400.0)
ECP5_VCO_MHZ = (400.0, 800.0)
ECP5_OUTPUT_MHZ = (3.125, 400.0)
#: Largest output frequency error accepted, relative.
MAX_ERROR = 0.005


@dataclass(frozen=True)
class Ecp5PllSetting:
    """EHXPLLL dividers: f_out = f_in / clki_div * clkfb_div; VCO = f_out * clkop_div."""

    clki_div: int
    clkfb_div: int
    clkop_div: int
    input_mhz: float

    @property
    def output_mhz(self) -> float:
        """The PLL's output frequency in MHz."""
        return self.input_mhz / self.clki_div * self.clkfb_div

    @property
    def vco_mhz(self) -> float:
        """The VCO frequency in MHz."""
        return self.output_mhz * self.clkop_div


def ecp5_pll_setting(input_mhz: float, output_mhz: float) -> Ecp5PllSetting:
    """Return the EHXPLLL dividers giving ``output_mhz`` from ``input_mhz`` most closely.

    Raises FpgaFlowError when no legal setting is within 0.5 % of the request.
    """
    if not ECP5_OUTPUT_MHZ[0] <= output_mhz <= ECP5_OUTPUT_MHZ[1]:
        raise FpgaFlowError(f"ECP5 PLL output {output_mhz:g} MHz is outside "
                            f"{ECP5_OUTPUT_MHZ[0]}-{ECP5_OUTPUT_MHZ[1]} MHz")
    best = None
    for clki_div in range(1, 129):
        pfd = input_mhz / clki_div
        if not ECP5_PFD_MHZ[0] <= pfd <= ECP5_PFD_MHZ[1]:
            continue
        for clkfb_div in range(1, 81):
            out = pfd * clkfb_div
            for clkop_div in range(1, 129):
                if ECP5_VCO_MHZ[0] <= out * clkop_div <= ECP5_VCO_MHZ[1]:
                    setting = Ecp5PllSetting(clki_div, clkfb_div, clkop_div, input_mhz)
                    if best is None or abs(out - output_mhz) < abs(best.output_mhz - output_mhz):
                        best = setting
                    break
    if best is None or abs(best.output_mhz - output_mhz) > MAX_ERROR * output_mhz:
        raise FpgaFlowError(f"no ECP5 PLL setting makes {output_mhz:g} MHz from {input_mhz:g} MHz")
    return best


class Ecp5Pll(Elaboratable):
    """Drive the ``sync`` domain from an EHXPLLL fed by ``clock_in`` (a pin at ``setting.input_mhz``).

    ``sync`` is held in reset until the PLL locks. ``clock`` is the output clock signal
    (for a timing constraint).
    """

    def __init__(self, clock_in, setting: Ecp5PllSetting):
        self.clock_in = clock_in
        self.setting = setting
        self.clock = Signal(name="pll_clock")

    def elaborate(self, platform):
        m = Module()
        s = self.setting
        locked = Signal()
        m.submodules.pll = Instance(
            "EHXPLLL",
            a_FREQUENCY_PIN_CLKI=f"{s.input_mhz:g}",
            a_FREQUENCY_PIN_CLKOP=f"{s.output_mhz:g}",
            a_ICP_CURRENT="12", a_LPF_RESISTOR="8",
            a_MFG_ENABLE_FILTEROPAMP="1", a_MFG_GMCREF_SEL="2",
            p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
            p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA",
            p_CLKI_DIV=s.clki_div, p_CLKFB_DIV=s.clkfb_div,
            p_CLKOP_ENABLE="ENABLED", p_CLKOP_DIV=s.clkop_div,
            p_CLKOP_CPHASE=s.clkop_div - 1, p_CLKOP_FPHASE=0, p_FEEDBK_PATH="CLKOP",
            i_RST=0, i_STDBY=0, i_CLKI=self.clock_in, i_CLKFB=self.clock,
            i_PHASESEL0=0, i_PHASESEL1=0, i_PHASEDIR=1, i_PHASESTEP=1, i_PHASELOADREG=1,
            i_PLLWAKESYNC=0, i_ENCLKOP=0,
            o_CLKOP=self.clock, o_LOCK=locked,
        )
        m.domains.sync = ClockDomain("sync")
        m.d.comb += ClockSignal("sync").eq(self.clock)
        m.submodules.reset = ResetSynchronizer(~locked, domain="sync")
        if platform is not None:
            platform.add_clock_constraint(self.clock, s.output_mhz * 1e6)
        return m
