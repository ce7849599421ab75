"""Exported compiled models: a self-contained blob, and the compiled-model cache directory.

A blob is ``MAGIC``, a little-endian u64 header length, a JSON header (format
version, device, properties, size) and the optimized model as a
:mod:`~kiln.runtime.graph_archive` (graph as JSON, weights as raw aligned bytes: it
loads without re-running shape inference, ~10x faster than parsing IR XML).
No pickle: importing a blob runs no code from it.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from kiln.errors import ModelFormatError
from kiln.ir import Model

MAGIC = b"KILNBLOB"
FORMAT_VERSION = 2


def pack(model: Model, device: str, properties: dict[str, Any], optimized: bool) -> bytes:
    """Return the blob of ``model`` compiled for ``device`` with ``properties``."""
    from kiln.runtime import graph_archive

    body = graph_archive.encode(model)
    header = json.dumps({
        "format": FORMAT_VERSION, "device": device, "optimized": optimized,
        "properties": {k: v for k, v in properties.items() if isinstance(v, (str, int, float, bool))},
        "model_bytes": len(body),
    }).encode()
    return MAGIC + struct.pack("<Q", len(header)) + header + body


def unpack(blob: bytes, source: str = "blob") -> tuple[dict[str, Any], Model]:
    """Return (header, model) of a blob made by :func:`pack`; ModelFormatError if it is not one."""
    blob = bytes(blob)
    if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + 8:
        raise ModelFormatError(f"{source}: not an exported Kiln compiled model (bad magic)")
    (size,) = struct.unpack_from("<Q", blob, len(MAGIC))
    start = len(MAGIC) + 8
    try:
        header = json.loads(blob[start:start + size])
    except ValueError as error:
        raise ModelFormatError(f"{source}: corrupt header: {error}") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_VERSION:
        raise ModelFormatError(f"{source}: unsupported export format {header.get('format')!r}")
    from kiln.runtime import graph_archive

    body = start + size
    end = body + int(header["model_bytes"])
    if end != len(blob):
        raise ModelFormatError(f"{source}: truncated or padded: {len(blob)} bytes, header says {end}")
    return header, graph_archive.decode(memoryview(blob)[body:end], source)


def cache_key(model: Model, device: str, properties: dict[str, Any]) -> str:
    """Return the cache key of compiling ``model`` for ``device`` with ``properties``.

    It hashes the graph structure (op types, attributes, connections, types and
    shapes, tensor names, input and output names), every constant's bytes, the
    device and the properties (except CACHE_DIR), plus the Kiln version. Node
    names are left out: models built in code get fresh ones on every build.
    """
    from kiln.ir.graph import output_name

    digest = hashlib.sha256()
    order = model.ordered_nodes()
    position = {id(n): i for i, n in enumerate(order)}
    for node in order:
        parts = [node.type_name, [(position[id(p.node)], p.index) for p in node.inputs],
                 [(t.value, s) for t, s in node.output_types], [sorted(n) for n in node.output_names]]
        for key in sorted(node.attrs):
            value = node.attrs[key]
            if hasattr(value, "tobytes"):
                digest.update(str((value.dtype, value.shape)).encode())
                if value.dtype == object:
                    digest.update(repr(value.tolist()).encode())
                else:
                    digest.update(memoryview(np.ascontiguousarray(value)).cast("B"))
            else:
                parts.append((key, repr(value)))
        digest.update(repr(parts).encode())
    digest.update(repr([p.name for p in model.parameters] + [output_name(r) for r in model.results]).encode())
    props = {k: str(v) for k, v in properties.items() if k != "CACHE_DIR"}
    digest.update(json.dumps([device, sorted(props.items()), _kiln_version()]).encode())
    return digest.hexdigest()[:32]


def _kiln_version() -> str:
    try:
        from importlib.metadata import version

        return version("kiln")
    except Exception:  # not installed as a distribution: the source tree is the version
        return "source"


def cache_path(cache_dir: str | os.PathLike, key: str) -> Path:
    return Path(cache_dir) / f"{key}.kilnblob"


def store(path: Path, blob: bytes) -> None:
    """Write ``blob`` atomically (a reader never sees a half-written entry)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        f.write(blob)
    os.replace(tmp, path)
