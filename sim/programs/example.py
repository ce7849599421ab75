"""The shape of an example program: instructions, DRAM image, outputs and reference."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from kiln.hw import isa
from kiln.hw.config import VPUConfig
from kiln.hw.isa import Instruction


@dataclass(frozen=True)
class OutputRegion:
    """A tensor the program writes to DRAM: ``shape`` elements of ``dtype`` at ``address``."""

    name: str
    address: int
    shape: tuple[int, ...]
    dtype: str

    @property
    def nbytes(self) -> int:
        """Size of the region in bytes."""
        return int(np.prod(self.shape)) * np.dtype(self.dtype).itemsize

    def read(self, dram: np.ndarray) -> np.ndarray:
        """Return the region's tensor from a DRAM byte array."""
        raw = np.asarray(dram[self.address:self.address + self.nbytes], dtype=np.uint8)
        return raw.view(np.dtype(self.dtype).newbyteorder("<")).reshape(self.shape)


@dataclass(frozen=True)
class ExampleProgram:
    """A complete program: run ``instructions`` from ``program_address`` in a DRAM
    initialised with ``dram_image``; the tensors in ``outputs`` must then equal
    ``reference_fn()`` (a dict by output name) bit for bit.
    """

    name: str
    config: VPUConfig
    instructions: tuple[Instruction, ...]
    dram_image: np.ndarray
    outputs: tuple[OutputRegion, ...]
    reference_fn: Callable[[], dict[str, np.ndarray]]
    program_address: int = 0

    @property
    def program_bytes(self) -> bytes:
        """The program's encoding (16 bytes per instruction)."""
        return isa.encode_program(self.instructions)

    @property
    def instruction_count(self) -> int:
        """Instructions in the program, FINISH included."""
        return len(self.instructions)

    @property
    def dram_size(self) -> int:
        """Bytes of DRAM the program needs."""
        return int(self.dram_image.size)

    def read_outputs(self, dram: np.ndarray) -> dict[str, np.ndarray]:
        """Return every output tensor from a DRAM byte array after the run."""
        return {region.name: region.read(dram) for region in self.outputs}

    def mismatches(self, dram: np.ndarray) -> list[str]:
        """Return a description of every output that differs from the reference (empty: ok)."""
        expected = self.reference_fn()
        problems = []
        for name, got in self.read_outputs(dram).items():
            want = expected[name]
            if got.shape != want.shape or not np.array_equal(got, want):
                bad = int(np.sum(got != want)) if got.shape == want.shape else -1
                problems.append(f"{self.name}: output '{name}' differs in {bad} elements")
        return problems
