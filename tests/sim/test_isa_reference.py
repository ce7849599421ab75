"""docs/isa.md holds the tables generated from hw/isa.py and hw/registers.py, unchanged."""

from pathlib import Path

from kiln.hw import isa
from kiln.sim.isa_reference import generated_section, instruction_reference

DOC = Path(__file__).resolve().parents[2] / "docs" / "isa.md"


def test_docs_isa_md_matches_the_isa_definition():
    assert generated_section(DOC.read_text()) == instruction_reference(), (
        "docs/isa.md is stale: regenerate its tables with `python -m kiln.sim.isa_reference`")


def test_docs_example_assembles_canonically():
    text = DOC.read_text().split("```\n")[1]
    assert isa.disassemble(isa.assemble(text)) == text
