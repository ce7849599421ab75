"""Generate the field tables of docs/isa.md from hw/isa.py and hw/registers.py.

``python -m kiln.sim.isa_reference`` prints the generated Markdown (``--update
docs/isa.md`` rewrites it in place); docs/isa.md holds it between
``<!-- generated:begin -->`` and ``<!-- generated:end -->`` and a test checks
the two agree, so the document cannot drift from the encodings.
"""

from __future__ import annotations

import inspect
import sys

from kiln.hw import isa, registers

BEGIN = "<!-- generated:begin -->"
END = "<!-- generated:end -->"


def _field_rows(opcode: isa.Opcode) -> list[str]:
    fmt = isa.FORMATS[opcode]
    lines = ["| field | bits | width | type | meaning |", "|---|---|---|---|---|"]
    for row in isa.field_table(opcode):
        name = row["name"]
        if name in {f.name for f in isa.TOKEN_FIELDS} and name not in fmt.tokens:
            kind = "must be 0"
        elif row["choices"]:
            kind = " / ".join(f"{i}={c}" for i, c in enumerate(row["choices"]))
        elif row["signed"]:
            kind = "signed"
        else:
            kind = "unsigned"
        if row["minimum"]:
            kind += f", >= {row['minimum']}"
        meaning = row["doc"] if name != "opcode" else f"{int(opcode)} ({opcode.name})"
        lines.append(f"| `{name}` | {row['bits']} | {row['width']} | {kind} | {meaning} |")
    return lines


def instruction_reference() -> str:
    """Return the Markdown reference of every instruction and of the register map."""
    out: list[str] = [BEGIN, "", "### Opcodes", "",
                      "| opcode | mnemonic | queue |", "|---|---|---|"]
    for opcode, fmt in isa.FORMATS.items():
        out.append(f"| {int(opcode)} | {fmt.mnemonic} | {fmt.queue.value} |")
    out += ["", "Every other opcode value (0, 8-14) is illegal.", ""]
    for opcode, fmt in isa.FORMATS.items():
        out += [f"### {fmt.mnemonic} (queue: {fmt.queue.value})", ""]
        out += [inspect.cleandoc(fmt.doc), ""]
        out += _field_rows(opcode)
        out.append("")
    out += ["### Control and status registers", "",
            "| offset | register | access | width | meaning |", "|---|---|---|---|---|"]
    for r in registers.REGISTERS:
        out.append(f"| 0x{r.offset:02X} | `{r.name}` | {r.access.value} | {r.width} | {r.doc} |")
    out += ["", "| ERROR_CODE | name |", "|---|---|"]
    for code in registers.ErrorCode:
        out.append(f"| {int(code)} | {code.name} |")
    out += ["", END]
    return "\n".join(out) + "\n"


def generated_section(markdown: str) -> str:
    """Return the part of ``markdown`` between the generated markers (markers included)."""
    start, end = markdown.index(BEGIN), markdown.index(END) + len(END)
    return markdown[start:end] + "\n"


def update(path: str) -> None:
    """Rewrite the generated section of the Markdown file at ``path`` in place."""
    with open(path) as f:
        text = f.read()
    old = generated_section(text)
    with open(path, "w") as f:
        f.write(text.replace(old.rstrip("\n"), instruction_reference().rstrip("\n")))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--update":
        update(sys.argv[2])
    else:
        sys.stdout.write(instruction_reference())
