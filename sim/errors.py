"""Errors the ISA simulator stops with; each names the instruction index, opcode and field.

Each class carries the `kiln.hw.registers.ErrorCode` the RTL reports for the same
fault in its ERROR_CODE register.
"""

from __future__ import annotations

from kiln.hw.registers import ErrorCode


class SimulationError(Exception):
    """A program the VPU cannot run to FINISH.

    ``index`` is the instruction index at fault (None when no single instruction
    is), ``opcode`` its mnemonic and ``field`` the field at fault.
    """

    code = ErrorCode.NONE

    def __init__(self, message: str, *, index: int | None = None, opcode: str | None = None,
                 field: str | None = None):
        where = []
        if index is not None:
            where.append(f"instruction {index}")
        if opcode is not None:
            where.append(f"({opcode})")
        if field is not None:
            where.append(f"field '{field}'")
        super().__init__(f"{' '.join(where)}: {message}" if where else message)
        self.index, self.opcode, self.field = index, opcode, field


class IllegalInstructionError(SimulationError):
    """An illegal opcode, a set reserved bit or a token flag the queue cannot use."""

    code = ErrorCode.ILLEGAL_OPCODE


class FieldRangeError(SimulationError):
    """A field value the instruction cannot use (count 0, lo > hi, rows written twice)."""

    code = ErrorCode.FIELD_RANGE


class AddressRangeError(SimulationError):
    """A scratchpad, accumulator or DRAM address outside that memory."""

    def __init__(self, message: str, *, memory: str, **where):
        super().__init__(message, **where)
        self.memory = memory
        self.code = {"sp": ErrorCode.SP_RANGE, "acc": ErrorCode.ACC_RANGE}.get(
            memory, ErrorCode.DRAM_RANGE)


class DeadlockError(SimulationError):
    """Every engine waits on a dependency token that will never come."""

    code = ErrorCode.DEADLOCK


class MissingFinishError(SimulationError):
    """The fetch unit ran out of instructions without reaching FINISH."""

    code = ErrorCode.NO_FINISH


class CycleLimitError(SimulationError):
    """The run exceeded its cycle limit (``max_cycles``)."""

    code = ErrorCode.TIMEOUT


def check_rows(first: int, last: int, depth: int, memory: str, *, index: int, opcode: str,
               field: str) -> None:
    """Raise AddressRangeError unless on-chip rows ``first..last`` lie in ``[0, depth)``."""
    if first < 0 or last >= depth:
        name = {"sp": "scratchpad", "acc": "accumulator"}[memory]
        raise AddressRangeError(
            f"{name} rows {first}..{last} outside [0, {depth}) ({memory}_depth = {depth})",
            memory=memory, index=index, opcode=opcode, field=field)
