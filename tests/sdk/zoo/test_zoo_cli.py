"""`kiln zoo list` and `kiln zoo get`."""

from __future__ import annotations

import kiln
from kiln.cli import main


def test_zoo_list_names_every_buildable_model(capsys):
    assert main(["zoo", "list"]) == 0
    out = capsys.readouterr().out
    for name in kiln.zoo.names():
        assert name in out


def test_zoo_get_writes_onnx_and_ir(tmp_path, capsys):
    assert main(["zoo", "get", "digits_cnn", "-o", str(tmp_path / "d.onnx")]) == 0
    assert main(["zoo", "get", "digits_cnn", "-o", str(tmp_path / "d.xml")]) == 0
    assert (tmp_path / "d.bin").exists()
    a = kiln.Core().read_model(tmp_path / "d.onnx")
    b = kiln.Core().read_model(tmp_path / "d.xml")
    assert a.input_names == b.input_names
    assert main(["zoo", "get", "digits_cnn", "-o", str(tmp_path / "d.txt")]) == 1
