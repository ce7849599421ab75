import numpy as np
from kiln.cli import main

PROGRAM = """\
# 8x8 int8 matmul: rows 0-7 inputs, rows 8-15 weights
LOAD push_next mem=sp dst=0 dram=0x1000 y_size=16 x_size=1 y_stride=8
GEMM pop_prev push_next accumulate=0 acc=0 inp=0 wgt=8 i_count=8 i_inp_inc=1
STORE pop_prev mem=acc src=0 dram=0x2000 y_size=8 x_size=1 y_stride=32
FINISH
"""


def test_runs_an_assembler_file_with_data_and_dump(tmp_path, capsys):
    source = tmp_path / "mm.s"
    source.write_text(PROGRAM)
    np.save(tmp_path / "d.npy", np.ones(128, np.int8))
    trace = tmp_path / "t.json"
    rc = main(["sim", "run", str(source), "--program-address", "0x100",
               "--load", f"0x1000={tmp_path / 'd.npy'}", "--dump", "0x2000:32:int32",
               "--trace", str(trace)])
    out = capsys.readouterr().out
    assert rc == 0
    assert "cycles" in out and "[8 8 8 8 8 8 8 8]" in out
    assert trace.stat().st_size > 0


def test_runs_an_example(capsys):
    assert main(["sim", "run", "--example", "maxpool2x2"]) == 0
    assert "outputs match the numpy reference" in capsys.readouterr().out


def test_bad_programs_report_line_and_instruction(tmp_path, capsys):
    bad = tmp_path / "bad.s"
    bad.write_text("FINISH\nGEMM k_count=0\n")
    assert main(["sim", "run", str(bad)]) == 1
    assert "line 2" in capsys.readouterr().err
    bad.write_text("GEMM pop_prev\nFINISH\n")
    assert main(["sim", "run", str(bad)]) == 1
    assert "instruction 0 (GEMM) field 'pop_prev'" in capsys.readouterr().err
