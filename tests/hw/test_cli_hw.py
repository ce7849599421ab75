"""`kiln hw verilog` writes Verilog that Verilator lints; `kiln hw cosim` co-simulates a file."""

import numpy as np
import pytest
from kiln.cli import main
from kiln.hw import isa
from kiln.hw.config import VPUConfig
from kiln.sim.programs import example_programs


@pytest.mark.rtl
def test_hw_verilog_lints(tmp_path, capsys):
    out = tmp_path / "vpu.v"
    assert main(["hw", "verilog", "--dim", "2", "--sp-depth", "64", "--acc-depth", "32",
                 "-o", str(out), "--lint"]) == 0
    text = out.read_text()
    assert "module vpu(" in text and "dram__req_valid" in text and "csr__rdata" in text
    assert "0 errors" in capsys.readouterr().out


def test_hw_verilog_rejects_a_bad_config(tmp_path, capsys):
    assert main(["hw", "verilog", "--dim", "3", "-o", str(tmp_path / "x.v")]) == 1
    assert "VPUConfig.dim" in capsys.readouterr().err


@pytest.mark.rtl
def test_hw_cosim_on_assembler_text(tmp_path, capsys):
    config = VPUConfig(dim=4, sp_depth=512, acc_depth=256)
    program = next(p for p in example_programs(config) if p.name == "maxpool2x2")
    source = tmp_path / "pool.s"
    source.write_text(isa.disassemble(program.instructions))
    image = tmp_path / "dram.bin"
    program.dram_image.tofile(image)
    after = tmp_path / "after.bin"
    assert main(["hw", "cosim", str(source), "--dram", str(image), "--program-address",
                 hex(program.program_address), "--dim", "4", "--sp-depth", "512",
                 "--acc-depth", "256", "--dram-out", str(after)]) == 0
    assert "bit-exact" in capsys.readouterr().out
    assert not program.mismatches(np.fromfile(after, dtype=np.uint8))
