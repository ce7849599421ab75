"""The compiled VPU program: instructions, constant DRAM image, I/O bindings, layer table."""

from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from kiln.compiler.layout import from_blocked, quantize_activation, to_blocked
from kiln.errors import ModelFormatError
from kiln.hw import isa
from kiln.hw.config import VPUConfig

FORMAT_VERSION = 1


@dataclass
class TensorBinding:
    """Where a subgraph input or output lives in DRAM and how the host converts it.

    ``layout`` is ``"nchw"`` (a 4-D image) or ``"rows"`` (``[..., K]``: every leading
    index a pixel, the last axis the channels). Inputs are int8 at ``scale``;
    outputs are int8 (``kind="int8"``, dequantized by ``scale``) or int32
    accumulators (``kind="int32"``, dequantized per channel by ``channel_scale``),
    then clipped to ``clip`` when given.
    """

    name: str
    address: int
    shape: tuple[int, ...]
    layout: str
    kind: str = "int8"
    scale: float = 1.0
    channel_scale: list[float] | None = None
    clip: tuple[float, float] | None = None

    def nchw_shape(self, dim: int) -> tuple[int, int, int, int]:
        if self.layout == "nchw":
            return tuple(self.shape)
        pixels = int(np.prod(self.shape[:-1]))
        return (1, self.shape[-1], pixels, 1)

    def nbytes(self, dim: int) -> int:
        n, c, h, w = self.nchw_shape(dim)
        return n * (-(-c // dim)) * h * w * dim * (4 if self.kind == "int32" else 1)

    def encode(self, x: np.ndarray, dim: int) -> np.ndarray:
        """Return the DRAM bytes of float input ``x`` (quantized, channel-blocked)."""
        q = quantize_activation(np.asarray(x), self.scale)
        return to_blocked(self._to_nchw(q), dim).reshape(-1).view(np.uint8)

    def decode(self, raw: np.ndarray, dim: int) -> np.ndarray:
        """Return the float32 tensor of this output's DRAM bytes."""
        n, c, h, w = self.nchw_shape(dim)
        cg = -(-c // dim)
        dtype = np.int32 if self.kind == "int32" else np.int8
        blocked = raw.view(dtype).reshape(n, cg, h, w, dim)
        values = from_blocked(blocked, c).astype(np.float64)
        if self.kind == "int32":
            values *= np.asarray(self.channel_scale, np.float64).reshape(1, c, 1, 1)
        else:
            values *= self.scale
        if self.clip is not None:
            values = np.clip(values, *self.clip)
        return self._from_nchw(values.astype(np.float32))

    def _to_nchw(self, x: np.ndarray) -> np.ndarray:
        if self.layout == "nchw":
            return x
        k = x.shape[-1]
        return x.reshape(-1, k).T.reshape(1, k, -1, 1)

    def _from_nchw(self, x: np.ndarray) -> np.ndarray:
        if self.layout == "nchw":
            return x
        return x.reshape(x.shape[1], -1).T.reshape(self.shape)


@dataclass
class LayerRecord:
    """One lowered layer: the IR nodes it covers and its instruction index range."""

    name: str
    kind: str
    nodes: list[str]
    first: int
    last: int
    macs: int


@dataclass
class VpuProgram:
    """A model subgraph compiled for one VPUConfig; saved and loaded with ``save``/``load``."""

    config: VPUConfig
    instructions: list[isa.Instruction]
    constants: np.ndarray
    """uint8 DRAM image of the weights and requantization parameters."""
    constants_address: int
    program_address: int
    dram_size: int
    inputs: list[TensorBinding]
    outputs: list[TensorBinding]
    layers: list[LayerRecord] = field(default_factory=list)

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    def dram_image(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """Return the whole DRAM (uint8, ``dram_size`` bytes) for one run on ``inputs``.

        Holds the constants, the encoded program and each input quantized into its buffer:
        what a transport loads, and what co-simulation compares after the run.
        """
        dim = self.config.dim
        image = np.zeros(self.dram_size, np.uint8)
        image[self.constants_address:self.constants_address + self.constants.size] = self.constants
        code = np.frombuffer(isa.encode_program(self.instructions), np.uint8)
        image[self.program_address:self.program_address + code.size] = code
        for binding in self.inputs:
            data = binding.encode(inputs[binding.name], dim)
            image[binding.address:binding.address + data.size] = data
        return image

    def read_outputs(self, dram: np.ndarray) -> list[np.ndarray]:
        """Return the float outputs held in a DRAM image after a run."""
        dim = self.config.dim
        return [b.decode(np.ascontiguousarray(dram[b.address:b.address + b.nbytes(dim)]), dim)
                for b in self.outputs]

    def disassemble(self) -> str:
        """Return the program as assembler text, with a comment line before each layer."""
        starts = {layer.first: layer for layer in self.layers}
        lines = []
        for index, instruction in enumerate(self.instructions):
            if index in starts:
                layer = starts[index]
                lines.append(f"# layer {layer.name} ({layer.kind}): {', '.join(layer.nodes)}")
            lines.append(isa.format_instruction(instruction))
        return "\n".join(lines) + "\n"

    def save(self, path: str | Path) -> None:
        """Write the program to one ``.kvpu`` file (an npz archive with a JSON header)."""
        Path(path).write_bytes(self.to_bytes())

    def to_bytes(self) -> bytes:
        """Return the program file's bytes (what ``save`` writes)."""
        header = {
            "format_version": FORMAT_VERSION, "config": self.config.as_dict(),
            "program_address": self.program_address,
            "constants_address": self.constants_address, "dram_size": self.dram_size,
            "inputs": [asdict(b) for b in self.inputs], "outputs": [asdict(b) for b in self.outputs],
            "layers": [asdict(layer) for layer in self.layers],
        }
        buffer = io.BytesIO()
        np.savez(buffer, header=np.frombuffer(json.dumps(header).encode(), np.uint8),
                 program=np.frombuffer(isa.encode_program(self.instructions), np.uint8),
                 constants=self.constants)
        return buffer.getvalue()

    @classmethod
    def load(cls, source: str | Path | bytes) -> VpuProgram:
        """Read a program written by ``save`` (a path or the file's bytes)."""
        where = "<bytes>" if isinstance(source, bytes) else str(source)
        try:
            data = source if isinstance(source, bytes) else Path(source).read_bytes()
            archive = np.load(io.BytesIO(data), allow_pickle=False)
            header = json.loads(bytes(archive["header"]).decode())
            program = bytes(archive["program"])
            constants = np.array(archive["constants"], dtype=np.uint8)
        except (OSError, ValueError, KeyError) as error:
            raise ModelFormatError(f"{where}: not a Kiln VPU program: {error}") from error
        if header.get("format_version") != FORMAT_VERSION:
            raise ModelFormatError(f"{where}: VPU program format {header.get('format_version')} "
                                   f"is not supported (expected {FORMAT_VERSION})")

        def binding(d):
            d = dict(d)
            d["shape"] = tuple(d["shape"])
            if d.get("clip") is not None:
                d["clip"] = tuple(d["clip"])
            return TensorBinding(**d)

        return cls(
            config=VPUConfig(**header["config"]),
            instructions=isa.decode_program(program),
            constants=constants,
            constants_address=header["constants_address"],
            program_address=header["program_address"],
            dram_size=header["dram_size"],
            inputs=[binding(b) for b in header["inputs"]],
            outputs=[binding(b) for b in header["outputs"]],
            layers=[LayerRecord(**layer) for layer in header["layers"]],
        )
