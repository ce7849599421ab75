"""The bit-exact VPU ISA simulator and its timing model.

`Machine` runs programs (see `kiln.hw.isa`) from its DRAM and reports cycles,
performance counters and a Perfetto timeline; `kiln.sim.programs` holds example
programs with numpy references.
"""

from kiln.sim.errors import (
    AddressRangeError,
    CycleLimitError,
    DeadlockError,
    FieldRangeError,
    IllegalInstructionError,
    MissingFinishError,
    SimulationError,
)
from kiln.sim.machine import Machine
from kiln.sim.pipeline import RunResult

__all__ = ["Machine", "RunResult", "SimulationError", "IllegalInstructionError",
           "FieldRangeError", "AddressRangeError", "DeadlockError", "MissingFinishError",
           "CycleLimitError"]
