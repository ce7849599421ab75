"""Read a build's resource use and timing from the Yosys and nextpnr outputs.

Resources come from nextpnr's post-place "Device utilisation" (cells used of the
device's total); on iCE40, where a logic cell holds a LUT and a flip-flop, the logic
cells (what must fit) come from nextpnr and the LUT and flip-flop counts from Yosys's
cell statistics, each against the device's logic cells. fmax per clock is the
post-route figure: ``fmax[clock].achieved`` of nextpnr's ``--report`` JSON.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

#: nextpnr cell types counted under each summary row, per FPGA family.
CELL_TYPES = {
    "ecp5": {"LUTs": ("TRELLIS_COMB",), "flip-flops": ("TRELLIS_FF",),
             "DSPs": ("MULT18X18D",), "block RAMs": ("DP16KD",)},
    "ice40": {"logic cells": ("ICESTORM_LC",), "LUTs": ("ICESTORM_LC",),
              "flip-flops": ("ICESTORM_LC",), "DSPs": ("ICESTORM_DSP",),
              "block RAMs": ("ICESTORM_RAM",), "SPRAMs": ("ICESTORM_SPRAM",)},
}
#: Yosys cells that are a LUT or a flip-flop on iCE40 (counted from the synthesis log).
_ICE40_LUT = re.compile(r"^SB_LUT4$")
_ICE40_FF = re.compile(r"^SB_DFF\w*$")
#: nextpnr-ice40 reports a constant net that clocks a cell (e.g. the unused clock input of an
#: unregistered SB_MAC16) as a clock of its own; it is not one of the design's clocks.
_CONSTANT_NET = "$PACKER_GND_NET"
_UTILISATION = re.compile(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%")
_MAX_FREQUENCY = re.compile(r"Max frequency for clock\s+'([^']+)':\s+([\d.]+) MHz"
                            r"(?: \((PASS|FAIL) at ([\d.]+) MHz\))?")


@dataclass(frozen=True)
class ResourceUse:
    """``used`` of the device's ``available`` cells of one kind."""

    name: str
    used: int
    available: int

    @property
    def percent(self) -> float:
        """Use in percent of the device's total."""
        return 100.0 * self.used / self.available if self.available else 0.0


@dataclass(frozen=True)
class ClockTiming:
    """Post-route timing of one clock: achieved fmax and its constraint, in MHz."""

    clock: str
    achieved_mhz: float
    constraint_mhz: float

    @property
    def meets(self) -> bool:
        """True when the achieved fmax is at least the constraint."""
        return self.achieved_mhz >= self.constraint_mhz


@dataclass
class BuildReport:
    """The summary of one bitstream build (written to ``summary.json`` and ``summary.md``)."""

    board: str
    device: str
    config: dict
    dram_bytes: int
    baud: int
    resources: list[ResourceUse]
    clocks: list[ClockTiming]
    bitstream: str | None
    seconds: float
    notes: list[str] = field(default_factory=list)

    def resource(self, name: str) -> ResourceUse:
        """Return the summary row called ``name`` ("LUTs", "flip-flops", "DSPs", "block RAMs";
        iCE40 also "logic cells", "SPRAMs")."""
        for use in self.resources:
            if use.name == name:
                return use
        raise KeyError(f"no resource row '{name}' in the {self.board} report")

    @property
    def fmax_mhz(self) -> float:
        """The lowest achieved fmax over all clocks, in MHz."""
        return min(c.achieved_mhz for c in self.clocks)

    def table(self) -> str:
        """Return the summary as a Markdown table."""
        lines = [f"Board {self.board} ({self.device}), VPU dim={self.config['dim']} "
                 f"sp_depth={self.config['sp_depth']} acc_depth={self.config['acc_depth']} "
                 f"dram_bus_bytes={self.config['dram_bus_bytes']}"
                 f"{' (compact)' if self.config.get('compact') else ''}, DRAM {self.dram_bytes} B, "
                 f"UART {self.baud} baud",
                 "", "| resource | used | of | % |", "|---|---:|---:|---:|"]
        lines += [f"| {r.name} | {r.used} | {r.available} | {r.percent:.1f} |"
                  for r in self.resources]
        lines += ["", "| clock | fmax achieved (MHz) | constraint (MHz) | |",
                  "|---|---:|---:|---|"]
        lines += [f"| {c.clock} | {c.achieved_mhz:.2f} | {c.constraint_mhz:.2f} | "
                  f"{'meets' if c.meets else 'FAILS'} |" for c in self.clocks]
        lines += ["", f"bitstream: {self.bitstream or 'none'}; build time {self.seconds:.0f} s"]
        lines += ["", *self.notes] if self.notes else []
        return "\n".join(lines)

    def write(self, out_dir: Path) -> None:
        """Write ``summary.json`` and ``summary.md`` into ``out_dir``."""
        data = asdict(self)
        (out_dir / "summary.json").write_text(json.dumps(data, indent=2) + "\n")
        (out_dir / "summary.md").write_text(self.table() + "\n")


def device_utilisation(log_text: str) -> dict[str, tuple[int, int]]:
    """Return nextpnr's "Device utilisation" block of a log as {cell type: (used, available)}.

    The last block in the log wins (nextpnr prints it after packing).
    """
    blocks: list[dict[str, tuple[int, int]]] = []
    for line in log_text.splitlines():
        if "Device utilisation" in line:
            blocks.append({})
            continue
        match = _UTILISATION.match(line)
        if match and blocks:
            blocks[-1][match[1]] = (int(match[2]), int(match[3]))
    return blocks[-1] if blocks else {}


def yosys_cell_counts(log_text: str) -> dict[str, int]:
    """Return the cell counts of the last "Printing statistics" section of a Yosys log.

    Where the section ends with a "design hierarchy" total, only that total is read
    (the module tables above it count the same cells again).
    """
    section = log_text[log_text.rfind("Printing statistics"):]
    hierarchy = section.find("=== design hierarchy ===")
    if hierarchy >= 0:
        section = section[hierarchy:]
    counts: dict[str, int] = {}
    for line in section.splitlines():
        match = re.match(r"^\s+(\d+)\s+(\$?[A-Za-z_][\w$]*)\s*$", line)
        if match and not match[2].endswith(("wires", "bits", "ports", "cells", "submodules")):
            counts[match[2]] = counts.get(match[2], 0) + int(match[1])
    return counts


def clock_timing(report_json: dict | None, log_text: str) -> list[ClockTiming]:
    """Return post-route fmax per clock: from the JSON report, else the log's last figures
    (constant nets that nextpnr reports as clocks left out)."""
    if report_json and report_json.get("fmax"):
        return [ClockTiming(name, float(v["achieved"]), float(v["constraint"]))
                for name, v in sorted(report_json["fmax"].items())
                if not name.startswith(_CONSTANT_NET)]
    last: dict[str, ClockTiming] = {}
    for match in _MAX_FREQUENCY.finditer(log_text):
        if match[1].startswith(_CONSTANT_NET):
            continue
        last[match[1]] = ClockTiming(match[1], float(match[2]),
                                     float(match[4]) if match[4] else 0.0)
    return list(last.values())


def critical_path(report_json: dict | None) -> str:
    """Return the worst path as the chain of design modules it crosses, with its logic depth."""
    if not report_json or not report_json.get("critical_paths"):
        return ""
    worst = report_json["critical_paths"][0]
    modules: list[str] = []
    levels = 0
    for segment in worst.get("path", []):
        if segment.get("type") == "routing":
            continue
        levels += 1
        # cut the netlist suffixes Yosys/nextpnr append (_LUT4_..., $signal$...)
        cell = re.split(r"_[A-Z]|\$", segment["from"]["cell"])[0]
        parts = [part for part in cell.split(".") if re.fullmatch(r"[A-Za-z]\w*", part)]
        name = ".".join(parts[:4])
        if name and (not modules or modules[-1] != name):
            modules.append(name)
    return f"critical path ({levels} cells): " + " -> ".join(modules)


def resource_rows(family: str, utilisation: dict[str, tuple[int, int]],
                  synthesis_log: str) -> list[ResourceUse]:
    """Return the summary's rows: LUTs, flip-flops, DSPs, block RAMs (iCE40: and logic
    cells, SPRAMs)."""
    rows = []
    cells = yosys_cell_counts(synthesis_log) if family == "ice40" else {}
    for name, types in CELL_TYPES[family].items():
        used = sum(utilisation.get(t, (0, 0))[0] for t in types)
        available = sum(utilisation.get(t, (0, 0))[1] for t in types)
        if family == "ice40" and name in ("LUTs", "flip-flops"):
            pattern = _ICE40_LUT if name == "LUTs" else _ICE40_FF
            used = sum(n for cell, n in cells.items() if pattern.match(cell))
        rows.append(ResourceUse(name, used, available))
    return rows


def parse_build(out: Path, design: str, board, config, *, dram_bytes: int, baud: int,
                seconds: float) -> BuildReport:
    """Read ``out``'s logs and report of ``design``; return and write its summary."""
    synthesis_log = (out / f"{design}.rpt").read_text(errors="replace")
    pnr_log = (out / f"{design}.tim").read_text(errors="replace")
    report_path = out / f"{design}.report.json"
    report_json = json.loads(report_path.read_text()) if report_path.exists() else None
    bitstream = next((p for p in (out / f"{design}.bit", out / f"{design}.bin") if p.exists()),
                     None)
    report = BuildReport(
        board=board.name,
        device=f"{board.platform.device}-{board.platform.package}",
        config=config.as_dict(),
        dram_bytes=dram_bytes,
        baud=baud,
        resources=resource_rows(board.family, device_utilisation(pnr_log), synthesis_log),
        clocks=clock_timing(report_json, pnr_log),
        bitstream=str(bitstream) if bitstream else None,
        seconds=seconds,
    )
    path = critical_path(report_json)
    if path:
        report.notes.append(path)
    report.write(out)
    return report
