"""The bitstream flow without running the toolchain: PLL search, constraints, report parsing."""

import dataclasses
import types

import pytest
from kiln.cli import main
from kiln.hw.fpga.board_design import BoardDesign, board_top
from kiln.hw.fpga.boards import BOARDS, board
from kiln.hw.fpga.clocking import ECP5_PFD_MHZ, ECP5_VCO_MHZ, ecp5_pll_setting
from kiln.hw.fpga.errors import FpgaFlowError
from kiln.hw.fpga.report import (
    clock_timing,
    device_utilisation,
    resource_rows,
    yosys_cell_counts,
)
from kiln.hw.fpga.uart import baud_divisor

PNR_LOG = """\
Info: Device utilisation:
Info: \t          TRELLIS_IO:     6/  365     1%
Info: \t        TRELLIS_COMB: 11000/83640    13%
Info: \t          TRELLIS_FF:  4000/83640     4%
Info: Max frequency for clock '$glbnet$cd_sync.clk': 34.97 MHz (PASS at 25.00 MHz)
Info: Device utilisation:
Info: \t          TRELLIS_IO:     6/  365     1%
Info: \t        TRELLIS_COMB: 12068/83640    14%
Info: \t          TRELLIS_FF:  4101/83640     4%
Info: \t              DP16KD:    13/  208     6%
Info: \t          MULT18X18D:    12/  156     7%
Info: Max frequency for clock '$glbnet$cd_sync.clk': 38.74 MHz (PASS at 25.00 MHz)
"""

YOSYS_LOG = """\
2.50. Printing statistics.

=== kiln_vpu ===
       77 cells
       28   SB_RAM40_4K
    20405 submodules
     2389   SB_CARRY
      238   SB_DFF
     1183   SB_DFFE
     2023   SB_DFFESR
    13936   SB_LUT4
"""


@pytest.mark.parametrize("target", [25, 30, 40, 50, 62.5, 75, 100, 125])
def test_ecp5_pll_setting_is_legal_and_close(target):
    setting = ecp5_pll_setting(25, target)
    assert abs(setting.output_mhz - target) <= 0.005 * target
    assert ECP5_VCO_MHZ[0] <= setting.vco_mhz <= ECP5_VCO_MHZ[1]
    assert ECP5_PFD_MHZ[0] <= 25 / setting.clki_div <= ECP5_PFD_MHZ[1]


def test_unreachable_pll_frequency_is_refused():
    with pytest.raises(FpgaFlowError, match="no ECP5 PLL setting makes 48 MHz"):
        ecp5_pll_setting(25, 48)
    with pytest.raises(FpgaFlowError, match="outside"):
        ecp5_pll_setting(25, 500)


def test_baud_divisor_rounds_and_refuses_bad_rates():
    assert baud_divisor(25e6, 1_000_000) == 25
    assert baud_divisor(12e6, 115_200) == 104
    with pytest.raises(ValueError, match="too fast"):
        baud_divisor(12e6, 6_000_000)
    with pytest.raises(ValueError, match="off by"):
        baud_divisor(12e6, 1_500_000 * 1.5)


def test_utilisation_and_fmax_come_from_the_last_post_route_figures():
    use = device_utilisation(PNR_LOG)
    assert use["TRELLIS_COMB"] == (12068, 83640)
    rows = {r.name: (r.used, r.available) for r in resource_rows("ecp5", use, "")}
    assert rows == {"LUTs": (12068, 83640), "flip-flops": (4101, 83640),
                    "DSPs": (12, 156), "block RAMs": (13, 208)}
    [clock] = clock_timing(None, PNR_LOG)
    assert (clock.achieved_mhz, clock.constraint_mhz, clock.meets) == (38.74, 25.0, True)
    report = {"fmax": {"clk": {"achieved": 51.5, "constraint": 60}}}
    [clock] = clock_timing(report, PNR_LOG)
    assert (clock.clock, clock.achieved_mhz, clock.meets) == ("clk", 51.5, False)


def test_ice40_logic_cells_from_nextpnr_luts_and_flip_flops_from_yosys():
    cells = yosys_cell_counts(YOSYS_LOG)
    assert cells["SB_LUT4"] == 13936
    use = {"ICESTORM_LC": (17216, 5280), "ICESTORM_RAM": (28, 30), "ICESTORM_DSP": (0, 8),
           "ICESTORM_SPRAM": (4, 4)}
    rows = {r.name: (r.used, r.available) for r in resource_rows("ice40", use, YOSYS_LOG)}
    assert rows["logic cells"] == (17216, 5280)
    assert rows["SPRAMs"] == (4, 4)
    assert rows["LUTs"] == (13936, 5280)
    assert rows["flip-flops"] == (238 + 1183 + 2023, 5280)
    assert rows["block RAMs"] == (28, 30)


def test_yosys_cells_are_counted_once_with_a_hierarchy_total():
    """Yosys prints the top module's table and then the design total: the same cells."""
    log = YOSYS_LOG + YOSYS_LOG.split("\n", 2)[2].replace("=== kiln_vpu ===",
                                                            "=== design hierarchy ===")
    assert log.count("13936   SB_LUT4") == 2
    assert yosys_cell_counts(log)["SB_LUT4"] == 13936


def test_constant_nets_reported_as_clocks_are_left_out():
    log = PNR_LOG + ("Info: Max frequency for clock '$PACKER_GND_NET_$glb_clk': 224.82 MHz "
                     "(PASS at 12.00 MHz)\n")
    report = {"fmax": {"$PACKER_GND_NET_$glb_clk": {"achieved": 224.8, "constraint": 12},
                       "cd_sync.clk": {"achieved": 6.94, "constraint": 12}}}
    assert [c.clock for c in clock_timing(report, log)] == ["cd_sync.clk"]
    assert "$PACKER" not in "".join(c.clock for c in clock_timing(None, log))


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_board_design_constrains_the_uart_pins(name, tmp_path):
    target = board(name)
    config = dataclasses.replace(target.config, dim=2, sp_depth=64, acc_depth=64,
                                 dram_bus_bytes=4)
    top = board_top(config, dram_bytes=1024, clock_hz=target.clock_hz, baud=target.baud)
    plan = target.platform().prepare(BoardDesign(top), name="kiln_vpu",
                                     nextpnr_opts="--report kiln_vpu.report.json")
    plan.extract(tmp_path)
    constraints = (tmp_path / ("kiln_vpu.lpf" if target.family == "ecp5" else "kiln_vpu.pcf"))
    text = constraints.read_text()
    rx, tx = ("M1", "L4") if target.family == "ecp5" else ("6", "9")
    assert f'"uart_0__rx__io" SITE "{rx}"' in text or f"uart_0__rx__io {rx}" in text
    assert f'"uart_0__tx__io" SITE "{tx}"' in text or f"uart_0__tx__io {tx}" in text
    assert "--report kiln_vpu.report.json" in (tmp_path / "build_kiln_vpu.sh").read_text()


def test_cli_refuses_a_clock_the_board_cannot_make(tmp_path, capsys):
    assert main(["hw", "bitstream", "--board", "ulx3s-85f", "--clock-mhz", "48",
                 "--out", str(tmp_path)]) == 1
    assert "no ECP5 PLL setting makes 48 MHz" in capsys.readouterr().err
    assert main(["hw", "bitstream", "--board", "icebreaker", "--clock-mhz", "20",
                 "--out", str(tmp_path)]) == 1
    assert "only supported on ECP5" in capsys.readouterr().err


def test_cli_refuses_an_illegal_config(tmp_path, capsys):
    assert main(["hw", "bitstream", "--board", "ulx3s-85f", "--dim", "3",
                 "--out", str(tmp_path)]) == 1
    assert "VPUConfig.dim" in capsys.readouterr().err
    assert main(["hw", "bitstream", "--board", "icebreaker", "--dram-kib", "256",
                 "--out", str(tmp_path)]) == 1
    assert "262144 B of DRAM is more than the 131072 B of the UP5K's SPRAMs" in \
        capsys.readouterr().err


ABC9_CRASH = """\
2.46.22.6. Executing AIGER frontend.
Removed 81907 unused cells and 158696 unused wires.

2.46.22.7. Executing ABC_OPS_REINTEGRATE pass (reintegrate ABC mapped design into module).
2.46.22.5. Executing ABC9.
ERROR: Assert `GetSize(conn.first) == GetSize(conn.second)' failed in kernel/rtlil.cc:3091.
"""


def test_an_abc9_crash_is_recognised_for_the_noabc9_retry(tmp_path):
    from kiln.hw.fpga.flow import _abc9_crashed

    (tmp_path / "kiln_vpu.rpt").write_text(ABC9_CRASH)
    assert _abc9_crashed(tmp_path)
    (tmp_path / "kiln_vpu.rpt").write_text("ERROR: Module `\\\\foo' referenced but not found\n")
    assert not _abc9_crashed(tmp_path)


def test_a_failing_tool_is_named_with_its_log(tmp_path, monkeypatch):
    from kiln.hw.fpga.flow import build_bitstream

    monkeypatch.setenv("YOSYS", "false")
    target = board("ulx3s-85f")
    config = dataclasses.replace(target.config, dim=2, sp_depth=64, acc_depth=64,
                                 dram_bus_bytes=4)
    with pytest.raises(FpgaFlowError, match=r"synthesis \(yosys\) failed \(exit 1\).*build.log"):
        build_bitstream(target, config, tmp_path, dram_bytes=1024, progress=False)
    assert (tmp_path / "build_kiln_vpu.sh").exists()


def test_lut_mapping_is_chosen_up_front():
    from kiln.hw.fpga.flow import CLASSIC_ABC_FROM_DIM, lut_mapping_for

    ulx3s, icebreaker = board("ulx3s-85f"), board("icebreaker")
    big = dataclasses.replace(ulx3s.config, dim=CLASSIC_ABC_FROM_DIM)
    small = dataclasses.replace(ulx3s.config, dim=CLASSIC_ABC_FROM_DIM // 2)
    assert lut_mapping_for(ulx3s, big) == "abc"  # abc9 crashes there: no 25-minute detour
    assert lut_mapping_for(ulx3s, small) == "abc9"
    assert lut_mapping_for(ulx3s, big, "abc9") == "abc9"
    assert lut_mapping_for(ulx3s, small, "abc") == "abc"
    assert lut_mapping_for(icebreaker, icebreaker.config) == "abc9"
    with pytest.raises(FpgaFlowError, match="only offered for ECP5"):
        lut_mapping_for(icebreaker, icebreaker.config, "abc")
    with pytest.raises(FpgaFlowError, match="'abc10' is not one of auto, abc9, abc"):
        lut_mapping_for(ulx3s, big, "abc10")


def test_cli_compact_flag_reaches_the_config(tmp_path, monkeypatch):
    built = []

    def build(target, config, out, **options):
        built.append(config)
        return types.SimpleNamespace(table=lambda: "summary", clocks=[])

    monkeypatch.setattr("kiln.hw.fpga.flow.build_bitstream", build)
    for flag in ("--no-compact", "--compact"):
        assert main(["hw", "bitstream", "--board", "icebreaker", flag, "--out", str(tmp_path)]) == 0
    assert main(["hw", "bitstream", "--board", "icebreaker", "--out", str(tmp_path)]) == 0
    assert [config.compact for config in built] == [False, True, True]
    assert not board("ulx3s-85f").config.compact
