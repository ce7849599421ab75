"""The bitstream flow: Amaranth elaborates, Yosys synthesises, nextpnr places and routes.

Every tool is a YoWASP build from PyPI, run through the platform's own build script
with the environment variables that name them. Logs, the nextpnr report and the
bitstream land in the output directory; ``report.parse_build`` reads the summary.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .board_design import BoardDesign, board_top
from .board_dram import check_dram
from .boards import Board
from .clocking import ecp5_pll_setting
from .errors import FpgaFlowError
from .report import BuildReport, device_utilisation, parse_build
from .uart import baud_divisor

#: Name of the top module and the prefix of every file the flow writes.
DESIGN_NAME = "kiln_vpu"
#: ECP5 synthesis with classic ABC LUT mapping: synth_ecp5 up to its abc9 step, then abc.
CLASSIC_ABC_ECP5 = {
    "synth_opts": "-run :map_luts",
    "script_after_synth": "\n".join([
        "techmap -map +/lattice/latches_map.v",
        "abc -lut 4",
        "clean",
        f"synth_ecp5 -top {DESIGN_NAME} -run map_cells:",
    ]),
}

#: Yosys options per FPGA family. iCE40 synthesis maps multipliers onto the UP5K's
#: SB_MAC16 DSPs (Yosys keeps them in LUTs unless asked), where the compact VPU's
#: multiplies would not fit.
FAMILY_SYNTHESIS = {"ice40": {"synth_opts": "-dsp"}}


#: ECP5 LUT mappings: Yosys's default timing-driven ``abc9`` or classic ``abc -lut 4``.
LUT_MAPPINGS = ("auto", "abc9", "abc")
#: From this array size up, ``auto`` maps ECP5 LUTs with classic ABC: Yosys 0.70's abc9
#: stopped on an internal assertion (ABC_OPS_REINTEGRATE) after ~25 minutes on the
#: dim-8 default ULX3S build, while dim 2 and dim 4 builds map with abc9.
CLASSIC_ABC_FROM_DIM = 8


def lut_mapping_for(board: Board, config, requested: str = "auto") -> str:
    """Return the LUT mapping to run first: ``abc9`` or ``abc`` (ECP5 only; iCE40: ``abc9``).

    ``requested`` is one of LUT_MAPPINGS; ``auto`` picks classic ``abc`` for ECP5
    builds with ``config.dim >= CLASSIC_ABC_FROM_DIM`` and ``abc9`` otherwise.
    """
    if requested not in LUT_MAPPINGS:
        raise FpgaFlowError(f"LUT mapping {requested!r} is not one of {', '.join(LUT_MAPPINGS)}")
    if board.family != "ecp5":
        if requested == "abc":
            raise FpgaFlowError(f"{board.name}: classic ABC mapping is only offered for ECP5")
        return "abc9"
    if requested == "auto":
        return "abc" if config.dim >= CLASSIC_ABC_FROM_DIM else "abc9"
    return requested


@dataclass(frozen=True)
class BuildStage:
    """One step of the build script, recognised by the file it starts writing."""

    name: str
    marker: str  # file name suffix whose appearance means the stage has started


def _stages(board: Board) -> list[BuildStage]:
    pack = "bit" if board.family == "ecp5" else "bin"
    return [BuildStage("synthesis (yosys)", ".rpt"),
            BuildStage("place and route (nextpnr)", ".tim"),
            BuildStage(f"bitstream ({'ecppack' if pack == 'bit' else 'icepack'})", f".{pack}")]


def toolchain_env(board: Board) -> dict[str, str]:
    """Return the environment that points Amaranth's build script at the YoWASP tools.

    The directory of the running interpreter (a virtual environment's bin/) is put
    first on PATH, where pip installed the ``yowasp-*`` executables.
    """
    env = dict(os.environ)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    for var, tool in board.tools.items():
        env.setdefault(var, tool)
    return env


def build_bitstream(board: Board, config, out_dir: str | Path, *, dram_bytes: int | None = None,
                    baud: int | None = None, clock_mhz: float | None = None,
                    lut_mapping: str = "auto", progress: bool = True) -> BuildReport:
    """Build ``config``'s VPU with a UART host link for ``board`` into ``out_dir``.

    Writes ``kiln_vpu.bit`` (ECP5) or ``kiln_vpu.bin`` (iCE40), the Yosys log
    ``kiln_vpu.rpt``, the nextpnr log ``kiln_vpu.tim``, its JSON report
    ``kiln_vpu.report.json`` and every generated input (RTLIL, constraints, script).
    ``clock_mhz`` runs the VPU from a PLL at that frequency (ECP5 boards) instead of
    the board's clock. ``lut_mapping`` (see ``lut_mapping_for``) picks Yosys's LUT
    mapping for ECP5; an abc9 run that stops on abc9's internal assertion is redone
    with classic ABC. Returns the parsed report. Raises FpgaFlowError naming the
    stage that failed and the log to read.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    dram_bytes = dram_bytes or board.dram_bytes
    baud = baud or board.baud
    pll = None
    clock_hz = board.clock_hz
    if clock_mhz is not None and abs(clock_mhz * 1e6 - clock_hz) > 1:
        if board.family != "ecp5":
            raise FpgaFlowError(f"{board.name}: a PLL clock is only supported on ECP5 boards; "
                                f"the VPU runs at the board's {clock_hz / 1e6:g} MHz")
        pll = ecp5_pll_setting(clock_hz / 1e6, clock_mhz)
        clock_hz = pll.output_mhz * 1e6
    try:  # the board top's own checks, without building one (an unused one warns)
        baud_divisor(clock_hz, baud)
        check_dram(dram_bytes, config.dram_bus_bytes, board.dram_memory)
    except ValueError as error:
        raise FpgaFlowError(f"{board.name}: {error}") from None

    def run(synthesis: dict[str, str]) -> int:
        top = board_top(config, dram_bytes=dram_bytes, clock_hz=clock_hz, baud=baud,
                        dram_memory=board.dram_memory)
        return _run_tools(board, BoardDesign(top, pll), out, synthesis, progress)

    mapping = lut_mapping_for(board, config, lut_mapping)
    started = time.monotonic()
    notes = []
    (out / "build.log").write_text("")
    if mapping == "abc":
        notes.append("LUTs mapped with classic abc -lut 4 (Yosys 0.70's abc9 fails on builds "
                     f"of dim >= {CLASSIC_ABC_FROM_DIM}; --lut-mapping abc9 tries it anyway)")
        returncode = run(CLASSIC_ABC_ECP5)
    else:
        returncode = run({})
    if returncode != 0 and mapping == "abc9" and board.family == "ecp5" and _abc9_crashed(out):
        # Yosys 0.70's abc9 can stop on an internal assertion for large designs; map the
        # LUTs with classic ABC instead (synth_lattice has no switch for it).
        notes.append("Yosys's abc9 stopped on an internal assertion; LUTs mapped with "
                     "classic abc -lut 4 instead (see kiln_vpu.abc9-crash.rpt)")
        (out / f"{DESIGN_NAME}.rpt").rename(out / f"{DESIGN_NAME}.abc9-crash.rpt")
        returncode = run(CLASSIC_ABC_ECP5)
    if returncode != 0:
        stage = _current_stage(out, _stages(board))
        raise FpgaFlowError(
            f"{board.name}: {stage.name} failed (exit {returncode}){_overuse(out)}; "
            f"see {out / 'build.log'} and {out / (DESIGN_NAME + stage.marker)}")
    report = parse_build(out, DESIGN_NAME, board, config, dram_bytes=dram_bytes, baud=baud,
                         seconds=time.monotonic() - started)
    if notes:
        report.notes[:0] = notes
        report.write(out)
    return report


def _run_tools(board: Board, design, out: Path, synthesis: dict[str, str],
               progress: bool) -> int:
    """Generate the build files for ``design`` into ``out`` and run the tools; return the status.

    ``synthesis`` holds extra Amaranth overrides for the Yosys script.
    """
    options = {"nextpnr_opts": f"--report {DESIGN_NAME}.report.json --timing-allow-fail",
               **FAMILY_SYNTHESIS.get(board.family, {}), **synthesis}
    plan = board.platform().prepare(design, name=DESIGN_NAME, **options)
    plan.extract(out)
    stages = _stages(board)
    for stage in stages:
        (out / f"{DESIGN_NAME}{stage.marker}").unlink(missing_ok=True)
    with open(out / "build.log", "a") as console:
        process = subprocess.Popen(["sh", f"build_{DESIGN_NAME}.sh"], cwd=out,
                                   env=toolchain_env(board), stdout=console,
                                   stderr=subprocess.STDOUT)
        _follow(process, out, stages, board.name, progress)
    return process.returncode


def _abc9_crashed(out: Path) -> bool:
    """Return True when Yosys stopped on an internal assertion while running ABC9."""
    log = out / f"{DESIGN_NAME}.rpt"
    if not log.exists() or (out / f"{DESIGN_NAME}.tim").exists():
        return False
    tail = log.read_text(errors="replace")[-20000:]
    return "ERROR: Assert" in tail and "ABC9" in tail.upper()


def _overuse(out: Path) -> str:
    """Return ": does not fit: <cell> used/available ..." when placement ran out of cells."""
    log = out / f"{DESIGN_NAME}.tim"
    if not log.exists():
        return ""
    over = [f"{cell} {used}/{available} ({100 * used / available:.0f}%)"
            for cell, (used, available) in device_utilisation(log.read_text()).items()
            if available and used > available]
    return f": the design does not fit the device: {', '.join(over)}" if over else ""


def _current_stage(out: Path, stages: list[BuildStage]) -> BuildStage:
    current = stages[0]
    for stage in stages:
        if (out / f"{DESIGN_NAME}{stage.marker}").exists():
            current = stage
    return current


def _follow(process: subprocess.Popen, out: Path, stages: list[BuildStage], name: str,
            progress: bool) -> None:
    """Wait for the build, showing a bar of its stages and the elapsed time."""
    from tqdm import tqdm

    with tqdm(total=len(stages), desc=f"{name}: starting", unit="stage", disable=not progress,
              bar_format="{desc} |{bar}| {n_fmt}/{total_fmt} stages [{elapsed}]") as bar:
        while process.poll() is None:
            time.sleep(0.5)
            stage = _current_stage(out, stages)
            done = stages.index(stage)
            if done != bar.n:
                bar.update(done - bar.n)
            bar.set_description(f"{name}: {stage.name}", refresh=False)
            bar.refresh()
        if process.returncode == 0:
            bar.update(len(stages) - bar.n)
            bar.set_description(f"{name}: done")
