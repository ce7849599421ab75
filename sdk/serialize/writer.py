"""Write a Model as OpenVINO IR v11: an ``.xml`` topology and a ``.bin`` of constant data."""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from kiln.errors import ModelFormatError
from kiln.ir import AttrKind, ElementType, Model, Node
from kiln.serialize.attribute_text import format_attribute
from kiln.serialize.constant_data import encode_constant
from kiln.serialize.layer_types import xml_type
from kiln.serialize.precision import PRECISIONS

_XML_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


def save_ir(model: Model, path: str | os.PathLike, compress_to_fp16: bool = False) -> None:
    """Write ``model`` to ``path`` (.xml) and the .bin beside it (same stem).

    With ``compress_to_fp16``, f32 constants whose values fit f16 are stored as f16
    and decompressed by a ``Convert`` (rt_info ``decompression``), as OpenVINO does.
    The model itself is not changed.
    """
    xml_path = Path(path)
    if xml_path.suffix.lower() != ".xml":
        raise ModelFormatError(f"{xml_path}: IR topology files end in .xml")
    if compress_to_fp16:
        from kiln.serialize.fp16_compression import compress_weights_to_fp16

        model = compress_weights_to_fp16(model)
    root, weights = build_ir(model)
    ET.indent(root, space="\t")
    xml_path.write_bytes(b'<?xml version="1.0"?>\n' + ET.tostring(root, encoding="utf-8") + b"\n")
    xml_path.with_suffix(".bin").write_bytes(weights)


def build_ir(model: Model) -> tuple[ET.Element, bytes]:
    """Return the ``<net>`` element and the ``.bin`` bytes of ``model``."""
    inner = [n for n in model.ordered_nodes() if n.type_name not in ("Parameter", "Result")]
    nodes = list(model.parameters) + inner + list(model.results)  # readers take inputs/outputs in layer order
    ids = {id(node): index for index, node in enumerate(nodes)}
    net = ET.Element("net", name=model.name, version="11")
    layers = ET.SubElement(net, "layers")
    blobs = WeightsFile()
    for node in nodes:
        layers.append(_layer(node, ids[id(node)], blobs))
    edges = ET.SubElement(net, "edges")
    for node in nodes:
        for to_port, port in enumerate(node.inputs):
            ET.SubElement(edges, "edge", {
                "from-layer": str(ids[id(port.node)]),
                "from-port": str(len(port.node.inputs) + port.index),
                "to-layer": str(ids[id(node)]),
                "to-port": str(to_port),
            })
    if model.rt_info:
        net.append(_model_rt_info(model.rt_info))
    return net, blobs.data()


class WeightsFile:
    """The ``.bin`` being built: appends blobs, storing identical ones once."""

    def __init__(self):
        self._chunks: list[bytes] = []
        self._offsets: dict[bytes, int] = {}
        self._size = 0

    def add(self, blob: bytes) -> int:
        """Return the offset (bytes) of ``blob`` in the file, appending it if it is new."""
        offset = self._offsets.get(blob)
        if offset is None:
            offset = self._offsets[blob] = self._size
            self._chunks.append(blob)
            self._size += len(blob)
        return offset

    def data(self) -> bytes:
        return b"".join(self._chunks)


def _layer(node: Node, layer_id: int, blobs: WeightsFile) -> ET.Element:
    layer = ET.Element("layer", id=str(layer_id), name=node.name, type=xml_type(node.type_name),
                       version=node.op.version if node.type_name != "Constant" else "opset1")
    data = _data_attributes(node, blobs)
    if node.type_name == "Result" and node.output_names and node.output_names[0]:
        layer.set("output_names", join_names(node.output_names[0]))
    if data:
        ET.SubElement(layer, "data", data)
    if node.rt_info:
        info = ET.SubElement(layer, "rt_info")
        for key, value in node.rt_info.items():
            attribute = ET.SubElement(info, "attribute", name=key, version="0")
            if value != "":
                attribute.set("value", str(value))
    if node.inputs:
        ports = ET.SubElement(layer, "input")
        for index, port in enumerate(node.inputs):
            _port(ports, index, port.element_type, port.shape, set())
    if node.type_name != "Result" and node.output_types:
        ports = ET.SubElement(layer, "output")
        for index, (etype, shape) in enumerate(node.output_types):
            _port(ports, len(node.inputs) + index, etype, shape, node.output_names[index])
    return layer


def _data_attributes(node: Node, blobs: WeightsFile) -> dict[str, str]:
    if node.type_name == "Constant":
        etype, shape = node.output_types[0]
        blob = encode_constant(node.attrs["value"], etype)
        return {"element_type": etype.value, "shape": ", ".join(str(d) for d in shape),
                "offset": str(blobs.add(blob)), "size": str(len(blob))}
    data = {}
    for key, attr in node.op.attributes.items():
        value = node.attrs.get(key)
        if value is None and attr.kind is not AttrKind.SHAPE:  # an optional attribute left unset
            continue
        try:
            data[key] = format_attribute(attr.kind, value)
        except (TypeError, ValueError) as error:
            raise ModelFormatError(f"node {node.name!r} ({node.type_name}): attribute {key!r} = {value!r} "
                                   f"cannot be written as {attr.kind.value}: {error}") from None
    return data


def _port(parent: ET.Element, port_id: int, etype: ElementType, shape, names: set[str]) -> None:
    port = ET.SubElement(parent, "port", id=str(port_id), precision=PRECISIONS[etype])
    if names:
        port.set("names", join_names(names))
    for dim in shape or ():
        ET.SubElement(port, "dim").text = "-1" if dim is None else str(dim)


def join_names(names: set[str]) -> str:
    """Return tensor names as one ``names=`` value: comma-separated, commas in a name escaped."""
    return ",".join(name.replace(",", "\\,") for name in sorted(names))


def _model_rt_info(info: dict[str, str]) -> ET.Element:
    element = ET.Element("rt_info")
    for key, value in info.items():
        parent, parts = element, key.split("/")
        if all(_XML_NAME.match(p) for p in parts):
            for part in parts[:-1]:
                child = parent.find(part)
                parent = child if child is not None else ET.SubElement(parent, part)
            ET.SubElement(parent, parts[-1], value=str(value))
        else:
            ET.SubElement(element, "info", name=key, value=str(value))
    return element
