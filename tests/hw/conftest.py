"""Shared fixtures of the RTL tests: Verilator designs built once per session and config."""

from __future__ import annotations

import shutil

import pytest
from kiln.hw.verilog import component_verilog
from kiln.sim.cocotb.runner import VerilatorDesign


@pytest.fixture(scope="session")
def verilator_design():
    """Return ``make(component, name)`` that builds (or reuses) a Verilator design."""
    made: dict[tuple[str, str], VerilatorDesign] = {}

    def make(component, name: str) -> VerilatorDesign:
        verilog = component_verilog(component, name)
        key = (name, verilog)
        if key not in made:
            made[key] = VerilatorDesign(verilog, name)
            made[key].build()
        return made[key]

    return make


@pytest.fixture
def run_dir(tmp_path):
    """Return a scratch folder for one simulator run, removed afterwards."""
    yield tmp_path
    shutil.rmtree(tmp_path, ignore_errors=True)
