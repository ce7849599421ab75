"""A fast, self-describing binary form of a Model for compiled-model blobs and the cache.

Layout: little-endian u64 length of a JSON document, the document, then the raw
bytes of every array attribute (weights), each 64-byte aligned. The document lists
nodes in topological order with op type, name, attributes (arrays by reference),
inputs (producer index, port), output types and tensor names, so loading rebuilds
the graph without re-running shape inference. No pickle: nothing in it is executed.
"""

from __future__ import annotations

import json
import struct

import numpy as np
from kiln.errors import ModelFormatError
from kiln.ir import ElementType, Model, Node, Output, lookup

_ALIGN = 64


class _Encoder:
    def __init__(self):
        self.arrays: list[np.ndarray] = []

    def value(self, value, where: str):
        if isinstance(value, np.ndarray):
            if value.dtype == object:
                return {"$strings": [str(v) for v in value.reshape(-1)], "shape": list(value.shape)}
            self.arrays.append(np.ascontiguousarray(value))
            return {"$array": len(self.arrays) - 1}
        if isinstance(value, ElementType):
            return {"$etype": value.value}
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, tuple):
            return {"$tuple": [self.value(v, where) for v in value]}
        if isinstance(value, list):
            return [self.value(v, where) for v in value]
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        raise ModelFormatError(f"{where}: attribute of type {type(value).__name__} cannot be archived")


def encode(model: Model) -> bytes:
    """Return ``model`` as archive bytes (see the module docstring)."""
    encoder = _Encoder()
    order = model.ordered_nodes()
    index = {id(n): i for i, n in enumerate(order)}
    nodes = []
    for node in order:
        where = f"node {node.name!r} ({node.type_name})"
        nodes.append({
            "type": node.type_name, "name": node.name,
            "attrs": {k: encoder.value(v, where) for k, v in node.attrs.items()},
            "inputs": [[index[id(p.node)], p.index] for p in node.inputs],
            "outputs": [[t.value, None if s is None else list(s)] for t, s in node.output_types],
            "names": [sorted(n) for n in node.output_names], "rt_info": dict(node.rt_info),
        })
    offsets, cursor = [], 0
    for array in encoder.arrays:
        offsets.append([cursor, array.dtype.str, list(array.shape)])
        cursor += -(-array.nbytes // _ALIGN) * _ALIGN
    document = json.dumps({
        "name": model.name, "nodes": nodes, "rt_info": dict(model.rt_info),
        "parameters": [index[id(p)] for p in model.parameters],
        "results": [index[id(r)] for r in model.results], "arrays": offsets,
    }).encode()
    head = struct.pack("<Q", len(document)) + document
    pad = -len(head) % _ALIGN
    parts = [head, b"\0" * pad]
    for array in encoder.arrays:
        parts.append(array.tobytes())
        parts.append(b"\0" * (-array.nbytes % _ALIGN))
    return b"".join(parts)


def decode(data: bytes, source: str = "archive") -> Model:
    """Return the Model stored by :func:`encode`; ModelFormatError naming ``source`` if malformed."""
    try:
        (size,) = struct.unpack_from("<Q", data, 0)
        document = json.loads(bytes(data[8:8 + size]))
        base = 8 + size + (-(8 + size) % _ALIGN)
        arrays = []
        for offset, dtype, shape in document["arrays"]:
            dtype = np.dtype(dtype)
            count = int(np.prod(shape, dtype=np.int64))
            if base + offset + count * dtype.itemsize > len(data):
                raise ModelFormatError(f"{source}: weights are truncated")
            arrays.append(np.frombuffer(data, dtype, count, base + offset).reshape(shape).copy())
        nodes: list[Node] = []
        for entry in document["nodes"]:
            node = Node.__new__(Node)
            node.op = lookup(entry["type"])
            node.name = entry["name"]
            node.attrs = {k: _decode_value(v, arrays) for k, v in entry["attrs"].items()}
            node.inputs = [Output(nodes[i], port) for i, port in entry["inputs"]]
            node.output_types = [(ElementType(t), None if shape is None else tuple(shape))
                                 for t, shape in entry["outputs"]]
            node.output_names = [set(n) for n in entry["names"]]
            node.rt_info = dict(entry["rt_info"])
            nodes.append(node)
        model = Model([nodes[i] for i in document["results"]], [nodes[i] for i in document["parameters"]],
                      name=document["name"])
        model.rt_info = dict(document["rt_info"])
        return model
    except ModelFormatError:
        raise
    except (KeyError, IndexError, TypeError, ValueError, struct.error) as error:
        raise ModelFormatError(f"{source}: corrupt model archive: {type(error).__name__}: {error}") from None


def _decode_value(value, arrays):
    if isinstance(value, dict):
        if "$array" in value:
            return arrays[value["$array"]]
        if "$etype" in value:
            return ElementType(value["$etype"])
        if "$tuple" in value:
            return tuple(_decode_value(v, arrays) for v in value["$tuple"])
        if "$strings" in value:
            return np.array(value["$strings"], dtype=object).reshape(value["shape"])
        raise ValueError(f"unknown archived value {sorted(value)}")
    if isinstance(value, list):
        return [_decode_value(v, arrays) for v in value]
    return value
