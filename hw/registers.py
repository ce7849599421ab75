"""The VPU's memory-mapped control and status registers (CSRs).

All registers are 32 bits wide at word-aligned byte offsets from the CSR base;
64-bit counters are a LO/HI pair (read LO first: reading LO latches HI).
A host runs a program by writing PROGRAM_ADDRESS and PROGRAM_COUNT, then
CONTROL.START; it polls STATUS until DONE or ERROR. Counters and ERROR_* are
cleared when a run starts and hold their values after it ends.

Compact builds (``VPUConfig.compact``, iCE40) differ in three ways: the 64-bit
counters are ``VPUConfig.counter_bits`` = 32 bits wide (they wrap at 2**32 and
their HI registers read 0); every counter but CYCLES lags a run in progress by up
to 11 cycles (STATUS shows DONE or ERROR once they are exact, 12 cycles after the
run ends); and ERROR_INDEX holds the instruction index modulo 2**16.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Access(enum.Enum):
    """How the host may access a register."""

    RW = "rw"
    RO = "ro"
    WO = "wo"


@dataclass(frozen=True)
class Register:
    """One 32-bit CSR at byte ``offset``; ``width`` counts its meaningful low bits."""

    name: str
    offset: int
    access: Access
    width: int
    doc: str


@dataclass(frozen=True)
class BitField:
    """Bit ``bit`` of register ``register``."""

    register: str
    name: str
    bit: int
    doc: str


class ErrorCode(enum.IntEnum):
    """Value of ERROR_CODE after a run stops with STATUS.ERROR set.

    ERROR_INDEX then holds the index of the instruction at fault (for TIMEOUT and
    DEADLOCK, the oldest instruction not yet retired).
    """

    NONE = 0
    ILLEGAL_OPCODE = 1     #: opcode 0 or 8-14, or a reserved bit / token flag set
    NO_FINISH = 2          #: fetched PROGRAM_COUNT instructions without a FINISH
    FIELD_RANGE = 3        #: a count of 0, lanes > dim, lo > hi, overlapping rows
    SP_RANGE = 4           #: a scratchpad row address >= sp_depth
    ACC_RANGE = 5          #: an accumulator row address >= acc_depth
    DRAM_RANGE = 6         #: a DRAM byte address outside the DRAM
    DEADLOCK = 7           #: every engine waits on a token nobody will push
    TIMEOUT = 8            #: the cycle counter reached WATCHDOG


REGISTERS: tuple[Register, ...] = (
    Register("CONTROL", 0x00, Access.WO, 2, "bit 0 START: begin a run; bit 1 CLEAR: "
             "clear DONE, ERROR and the counters (both self-clearing)"),
    Register("STATUS", 0x04, Access.RO, 3, "bit 0 BUSY, bit 1 DONE, bit 2 ERROR"),
    Register("ERROR_CODE", 0x08, Access.RO, 8, "ErrorCode of the last run"),
    Register("ERROR_INDEX", 0x0C, Access.RO, 32, "instruction index at fault"),
    Register("PROGRAM_ADDRESS", 0x10, Access.RW, 32, "DRAM byte address of instruction 0"),
    Register("PROGRAM_COUNT", 0x14, Access.RW, 32, "instructions the fetch unit may read"),
    Register("WATCHDOG", 0x18, Access.RW, 32, "stop with TIMEOUT after this many cycles "
             "(0: never)"),
    Register("CONFIG_DIM", 0x1C, Access.RO, 8, "VPUConfig.dim"),
    Register("CONFIG_SP_DEPTH", 0x20, Access.RO, 17, "VPUConfig.sp_depth (rows)"),
    Register("CONFIG_ACC_DEPTH", 0x24, Access.RO, 17, "VPUConfig.acc_depth (rows)"),
    Register("RETIRED", 0x28, Access.RO, 32, "instructions retired (FINISH included)"),
    Register("CYCLES_LO", 0x40, Access.RO, 32, "cycles from START to done, low word"),
    Register("CYCLES_HI", 0x44, Access.RO, 32, "high word"),
    Register("MACS_LO", 0x48, Access.RO, 32, "GEMM multiply-accumulates "
             "(k_count*o_count*i_count*dim**2 per GEMM), low word"),
    Register("MACS_HI", 0x4C, Access.RO, 32, "high word"),
    Register("DMA_READ_BYTES_LO", 0x50, Access.RO, 32, "DRAM bytes read by LOAD, low word"),
    Register("DMA_READ_BYTES_HI", 0x54, Access.RO, 32, "high word"),
    Register("DMA_WRITE_BYTES_LO", 0x58, Access.RO, 32, "DRAM bytes written by STORE, low word"),
    Register("DMA_WRITE_BYTES_HI", 0x5C, Access.RO, 32, "high word"),
    Register("BUSY_LOAD", 0x60, Access.RO, 32, "cycles the load engine executed an instruction"),
    Register("BUSY_COMPUTE", 0x64, Access.RO, 32, "cycles the compute engine executed one"),
    Register("BUSY_STORE", 0x68, Access.RO, 32, "cycles the store engine executed one"),
    Register("STALL_LOAD", 0x6C, Access.RO, 32, "cycles the load engine waited on a token "
             "(pop) or for room to push one"),
    Register("STALL_COMPUTE", 0x70, Access.RO, 32, "same, compute engine"),
    Register("STALL_STORE", 0x74, Access.RO, 32, "same, store engine"),
    Register("STALL_FETCH", 0x78, Access.RO, 32, "cycles the fetch unit waited for a full "
             "instruction queue"),
)

BITS: tuple[BitField, ...] = (
    BitField("CONTROL", "START", 0, "write 1 to start a run at PROGRAM_ADDRESS"),
    BitField("CONTROL", "CLEAR", 1, "write 1 to clear DONE, ERROR and every counter"),
    BitField("STATUS", "BUSY", 0, "a run is in progress"),
    BitField("STATUS", "DONE", 1, "the last run retired FINISH"),
    BitField("STATUS", "ERROR", 2, "the last run stopped on an error (see ERROR_CODE)"),
)

#: Size of the CSR window in bytes.
CSR_WINDOW_BYTES = 0x80

#: Performance counters by the names runs report them under, and their registers.
COUNTERS: dict[str, tuple[str, ...]] = {
    "cycles": ("CYCLES_LO", "CYCLES_HI"),
    "macs": ("MACS_LO", "MACS_HI"),
    "dma_read_bytes": ("DMA_READ_BYTES_LO", "DMA_READ_BYTES_HI"),
    "dma_write_bytes": ("DMA_WRITE_BYTES_LO", "DMA_WRITE_BYTES_HI"),
    "retired": ("RETIRED",),
    "busy_load": ("BUSY_LOAD",),
    "busy_compute": ("BUSY_COMPUTE",),
    "busy_store": ("BUSY_STORE",),
    "stall_load": ("STALL_LOAD",),
    "stall_compute": ("STALL_COMPUTE",),
    "stall_store": ("STALL_STORE",),
    "stall_fetch": ("STALL_FETCH",),
}

_BY_NAME = {r.name: r for r in REGISTERS}


def register(name: str) -> Register:
    """Return the register called ``name``; raise KeyError naming it if there is none."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"no VPU register '{name}'") from None


def offset(name: str) -> int:
    """Return the byte offset of register ``name``."""
    return register(name).offset


def bit(register_name: str, name: str) -> int:
    """Return the bit position of bit field ``name`` in ``register_name``."""
    for b in BITS:
        if b.register == register_name and b.name == name:
            return b.bit
    raise KeyError(f"no bit '{name}' in VPU register '{register_name}'")


def _check_map() -> None:
    offsets = [r.offset for r in REGISTERS]
    if len(set(offsets)) != len(offsets) or any(o % 4 or o >= CSR_WINDOW_BYTES for o in offsets):
        raise AssertionError("VPU register map: duplicate, unaligned or out-of-window offset")


_check_map()
