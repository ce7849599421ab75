"""Place a program's tensors in DRAM: a bump allocator that builds the DRAM image."""

from __future__ import annotations

import numpy as np


class DramLayout:
    """Assign aligned DRAM addresses to named tensors and build the initial image.

    Data regions are placed from address 0 upwards, each aligned to ``align``
    bytes; the program goes after the last region (see `image`).
    """

    def __init__(self, align: int = 64):
        self.align = align
        self.end = 0
        self.regions: dict[str, tuple[int, np.ndarray | None, int]] = {}

    def _aligned(self, address: int) -> int:
        return -(-address // self.align) * self.align

    def place(self, name: str, array: np.ndarray) -> int:
        """Reserve room for ``array`` (its raw little-endian bytes) and return its address."""
        data = np.ascontiguousarray(array)
        if data.dtype.byteorder == ">":
            data = data.astype(data.dtype.newbyteorder("<"))
        address = self.end
        self.regions[name] = (address, data, data.nbytes)
        self.end = self._aligned(address + data.nbytes)
        return address

    def reserve(self, name: str, nbytes: int) -> int:
        """Reserve ``nbytes`` of zeroed DRAM (an output) and return its address."""
        address = self.end
        self.regions[name] = (address, None, nbytes)
        self.end = self._aligned(address + nbytes)
        return address

    def address(self, name: str) -> int:
        """Return the address of region ``name``."""
        return self.regions[name][0]

    def image(self, program: bytes) -> tuple[np.ndarray, int]:
        """Return the DRAM image (uint8) with every tensor and the program, and the
        program's address (after the last region)."""
        program_address = self.end
        out = np.zeros(program_address + len(program), dtype=np.uint8)
        out[program_address:] = np.frombuffer(program, dtype=np.uint8)
        for address, data, nbytes in self.regions.values():
            if data is not None:
                out[address:address + nbytes] = data.reshape(-1).view(np.uint8)
        return out, program_address
