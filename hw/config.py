"""The one VPU configuration: every size, width and latency of the accelerator.

`VPUConfig` sizes the RTL, the ISA simulator, its timing model and the compiler's
tiling alike. Nothing else in Kiln may hold a second copy of these numbers: widths
that follow from them are properties here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

#: Bits of one input/weight element (int8) and of one accumulator element (int32).
INPUT_BITS = 8
ACC_BITS = 32
#: Bits of one instruction (fixed width) and its size in DRAM in bytes.
INSTRUCTION_BITS = 128
INSTRUCTION_BYTES = INSTRUCTION_BITS // 8
#: Width of every on-chip row address field in the ISA; bounds sp_depth and acc_depth.
ROW_ADDRESS_BITS = 16
#: Width of DRAM byte addresses (the DMA and the instruction fetch).
DRAM_ADDRESS_BITS = 32
#: Largest array dimension: the LOAD/STORE ``lanes`` field is 7 bits wide.
MAX_DIM = 64


class ConfigError(ValueError):
    """A VPUConfig field with an illegal value; the message names the field."""

    def __init__(self, field: str, message: str):
        super().__init__(f"VPUConfig.{field}: {message}")
        self.field = field


def _is_power_of_two(value: int) -> bool:
    return value > 0 and value & (value - 1) == 0


@dataclass(frozen=True)
class VPUConfig:
    """Sizes, widths and latencies of one VPU build.

    Fields:
        dim: the systolic array is ``dim`` x ``dim`` int8 MACs; one scratchpad row holds
            ``dim`` int8 elements and one accumulator row ``dim`` int32 elements.
            A power of two from 2 to 64.
        sp_depth: scratchpad rows (each ``dim`` bytes). At most 2**16.
        acc_depth: accumulator rows (each ``4 * dim`` bytes). At most 2**16.
        dram_bus_bytes: bytes the DMA moves per cycle on one DRAM beat (power of two).
        dram_latency: cycles from a DMA request to its first beat (once per LOAD/STORE
            and once for the first instruction fetch).
        load_queue_depth, compute_queue_depth, store_queue_depth: instruction slots in
            each command queue between the fetch unit and its engine (``compact``: the
            instruction the engine executes holds one of them until it completes).
        token_queue_depth: capacity of each of the four dependency-token FIFOs.
        vector_latency: pipeline cycles added to every vector instruction.
        clock_mhz: the VPU clock in MHz (used for traces and throughput figures only).
        compact: build the RTL's small variants, for iCE40-class FPGAs: the vector unit
            computes one lane per cycle (``dim`` cycles per row), DMA and fetch buffers
            sit in block RAM, the DRAM arbiter has no request buffers, a queue's last
            slot is its sequencer, instruction indices are 16 bits and the performance
            counters 32 bits wide (the HI words read 0). Results stay bit-identical to
            the ISA simulator's, which models the same queue slots and counter widths;
            cycle counts differ (docs/rtl.md, "Compact variant").
    """

    dim: int = 8
    sp_depth: int = 8192
    acc_depth: int = 4096
    dram_bus_bytes: int = 16
    dram_latency: int = 20
    load_queue_depth: int = 8
    compute_queue_depth: int = 8
    store_queue_depth: int = 8
    token_queue_depth: int = 8
    vector_latency: int = 2
    clock_mhz: float = 200.0
    compact: bool = False

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ConfigError naming the first field whose value the VPU cannot build."""
        for name in ("dim", "sp_depth", "acc_depth", "dram_bus_bytes", "dram_latency",
                     "load_queue_depth", "compute_queue_depth", "store_queue_depth",
                     "token_queue_depth", "vector_latency"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ConfigError(name, f"must be an int, got {value!r}")
        if not _is_power_of_two(self.dim) or not 2 <= self.dim <= MAX_DIM:
            raise ConfigError("dim", f"must be a power of two in [2, {MAX_DIM}], got {self.dim}")
        for name in ("sp_depth", "acc_depth"):
            value = getattr(self, name)
            if not 1 <= value <= 1 << ROW_ADDRESS_BITS:
                raise ConfigError(name, f"must be in [1, {1 << ROW_ADDRESS_BITS}], got {value}")
        if self.sp_depth < self.dim:
            raise ConfigError("sp_depth", f"must hold one weight tile ({self.dim} rows)")
        if not _is_power_of_two(self.dram_bus_bytes) or self.dram_bus_bytes > 256:
            raise ConfigError("dram_bus_bytes",
                              f"must be a power of two up to 256, got {self.dram_bus_bytes}")
        if self.dram_latency < 0 or self.vector_latency < 0:
            name = "dram_latency" if self.dram_latency < 0 else "vector_latency"
            raise ConfigError(name, "must be >= 0")
        for name in ("load_queue_depth", "compute_queue_depth", "store_queue_depth",
                     "token_queue_depth"):
            if not 1 <= getattr(self, name) <= 1024:
                raise ConfigError(name, f"must be in [1, 1024], got {getattr(self, name)}")
        if not isinstance(self.compact, bool):
            raise ConfigError("compact", f"must be a bool, got {self.compact!r}")
        if not isinstance(self.clock_mhz, (int, float)) or not self.clock_mhz > 0:
            raise ConfigError("clock_mhz", f"must be > 0, got {self.clock_mhz!r}")

    # Derived widths and sizes (the only place they are computed).
    @property
    def input_bits(self) -> int:
        """Bits of one scratchpad element (int8)."""
        return INPUT_BITS

    @property
    def acc_bits(self) -> int:
        """Bits of one accumulator element (int32, two's complement, wraps)."""
        return ACC_BITS

    @property
    def sp_row_bytes(self) -> int:
        """Bytes of one scratchpad row (``dim`` int8)."""
        return self.dim * INPUT_BITS // 8

    @property
    def acc_row_bytes(self) -> int:
        """Bytes of one accumulator row (``dim`` int32, little endian in DRAM)."""
        return self.dim * ACC_BITS // 8

    @property
    def sp_address_bits(self) -> int:
        """Bits needed to address every scratchpad row."""
        return max(1, (self.sp_depth - 1).bit_length())

    @property
    def acc_address_bits(self) -> int:
        """Bits needed to address every accumulator row."""
        return max(1, (self.acc_depth - 1).bit_length())

    @property
    def sp_bytes(self) -> int:
        """Scratchpad capacity in bytes."""
        return self.sp_depth * self.sp_row_bytes

    @property
    def acc_bytes(self) -> int:
        """Accumulator capacity in bytes."""
        return self.acc_depth * self.acc_row_bytes

    @property
    def product_bits(self) -> int:
        """Bits of one int8 x int8 product (signed, 16)."""
        return 2 * INPUT_BITS

    @property
    def macs_per_cycle(self) -> int:
        """Peak multiply-accumulates per cycle (``dim**2``)."""
        return self.dim * self.dim

    @property
    def gemm_pipeline_cycles(self) -> int:
        """Cycles to fill and drain the systolic array once (``2 * dim``)."""
        return 2 * self.dim

    @property
    def fetch_cycles(self) -> int:
        """DRAM beats (cycles) to fetch one 16-byte instruction."""
        return -(-INSTRUCTION_BYTES // self.dram_bus_bytes)

    @property
    def counter_bits(self) -> int:
        """Bits of the CYCLES, MACS and DMA_*_BYTES counters: 64, or 32 when ``compact``
        (they wrap at 2**32 and their HI words read 0)."""
        return 32 if self.compact else 64

    @property
    def peak_gops(self) -> float:
        """Peak int8 throughput in GOP/s (2 ops per MAC) at ``clock_mhz``."""
        return 2 * self.macs_per_cycle * self.clock_mhz / 1000.0

    def queue_depth(self, queue: str) -> int:
        """Return the instruction-queue depth of ``queue`` ("load", "compute" or "store")."""
        return {"load": self.load_queue_depth, "compute": self.compute_queue_depth,
                "store": self.store_queue_depth}[queue]

    def as_dict(self) -> dict:
        """Return the fields as a plain dict (for JSON, reports and the RTL generator)."""
        return asdict(self)
