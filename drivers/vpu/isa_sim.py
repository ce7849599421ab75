"""The ISA-simulator transport: runs VPU programs on `kiln.sim.Machine`.

Bit-exact with the RTL and a board by construction of the ISA; its cycle counts
come from the timing model of docs/isa.md.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from kiln.drivers.vpu.transport import RunStats, Transport
from kiln.errors import DeviceError
from kiln.hw.config import VPUConfig
from kiln.sim import Machine, SimulationError
from kiln.sim.machine import DEFAULT_DRAM_BYTES


class IsaSimTransport(Transport):
    """A `Transport` backed by the ISA simulator.

    ``trace_path``: when set, every run writes its Perfetto timeline there.
    Simulation errors (illegal instruction, bad address, deadlock, no FINISH, cycle
    limit) are raised as `kiln.errors.DeviceError` with the `SimulationError`
    (index, opcode, field) as its ``__cause__``.
    """

    name = "isa-sim"

    def __init__(self, config: VPUConfig | None = None, dram_size: int = DEFAULT_DRAM_BYTES,
                 trace_path: str | Path | None = None):
        self.config = config or VPUConfig()
        self._machine: Machine | None = Machine(self.config, dram_size)
        self.trace_path = Path(trace_path) if trace_path is not None else None

    @property
    def machine(self) -> Machine:
        """The simulated VPU; raises DeviceError once the transport is closed."""
        if self._machine is None:
            raise DeviceError("isa-sim: transport is closed")
        return self._machine

    def write_dram(self, address: int, data: np.ndarray | bytes) -> None:
        """Copy ``data`` (bytes or any array, taken as raw bytes) into DRAM at ``address``."""
        try:
            self.machine.write(address, data)
        except ValueError as error:
            raise DeviceError(f"isa-sim: {error}") from error

    def read_dram(self, address: int, size: int) -> np.ndarray:
        """Return ``size`` bytes of DRAM from ``address`` as a uint8 array."""
        try:
            return self.machine.read(address, size)
        except ValueError as error:
            raise DeviceError(f"isa-sim: {error}") from error

    def run(self, program_address: int, instruction_count: int, max_cycles: int) -> RunStats:
        """Run the program in DRAM at ``program_address`` until FINISH; return cycles and
        counters."""
        try:
            result = self.machine.run(program_address, instruction_count, max_cycles,
                                      trace=self.trace_path is not None)
        except SimulationError as error:
            raise DeviceError(f"isa-sim: {error}") from error
        if self.trace_path is not None:
            self.machine.write_trace(self.trace_path)
        counters = {k: v for k, v in result.counters.items() if k != "cycles"}
        return RunStats(cycles=result.cycles, counters=counters)

    def close(self) -> None:
        """Release the simulated DRAM; later calls raise DeviceError."""
        self._machine = None
