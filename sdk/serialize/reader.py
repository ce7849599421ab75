"""Read OpenVINO IR v10/v11 (``.xml`` + ``.bin``) into a Model.

Every error names the file and, where one is at fault, the layer (id, name, type,
version), its attribute or its port.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

from kiln.errors import KilnError, ModelFormatError, UnsupportedOpError
from kiln.ir import Model, Node, Output
from kiln.ir.op import lookup
from kiln.serialize.attribute_text import parse_attribute, parse_shape
from kiln.serialize.constant_data import constant_size, decode_constant
from kiln.serialize.decompositions import DECOMPOSITIONS
from kiln.serialize.layer_types import op_type
from kiln.serialize.precision import PRECISIONS, parse_element_type
from kiln.serialize.safe_xml import parse_xml

IR_VERSIONS = ("10", "11")


def read_ir(xml_path: str | os.PathLike, bin_path: str | os.PathLike | None = None) -> Model:
    """Return the Model stored in IR file ``xml_path`` (weights: ``bin_path`` or the .bin beside it).

    Runs no optimization. Raises ModelFormatError for a malformed or truncated file
    and UnsupportedOpError for a layer type/version or element type Kiln lacks.
    """
    xml_path = Path(xml_path)
    if not xml_path.exists():
        raise FileNotFoundError(f"{xml_path}: no such file")
    root = parse_xml(xml_path.read_bytes(), str(xml_path))
    weights = Weights(Path(bin_path) if bin_path is not None else xml_path.with_suffix(".bin"))
    return IrReader(root, str(xml_path), weights).model()


class Weights:
    """The ``.bin`` file, read on first use (a model without constants needs none)."""

    def __init__(self, path: Path):
        self.path = path
        self._data: bytes | None = None

    def read(self, offset: int, size: int, where: str) -> bytes:
        """Return ``size`` bytes at ``offset``; raise ModelFormatError naming the layer when out of range."""
        if self._data is None:
            if not self.path.exists():
                raise ModelFormatError(f"{where}: weights file {self.path} does not exist")
            self._data = self.path.read_bytes()
        if offset < 0 or size < 0 or offset + size > len(self._data):
            raise ModelFormatError(
                f"{where}: data at offset {offset}, size {size} lies beyond the end of {self.path} "
                f"({len(self._data)} bytes): the weights file is truncated or does not belong to this model")
        return self._data[offset:offset + size]


class Layer:
    """One ``<layer>`` element: identity, ports and, once built, its node."""

    def __init__(self, element: ET.Element, source: str):
        self.element = element
        attrs = element.attrib
        self.id = attrs.get("id", "?")
        self.name = attrs.get("name", "")
        self.type = attrs.get("type", "")
        self.version = attrs.get("version", "")
        self.where = (f"{source}: layer id={self.id} name={self.name!r} type={self.type} "
                      f"version={self.version}")
        for key in ("id", "type"):
            if key not in attrs:
                raise ModelFormatError(f"{self.where}: missing attribute {key!r}")
        self.input_ports = [self._port_id(p) for p in element.findall("input/port")]
        self.output_ports = [self._port_id(p) for p in element.findall("output/port")]
        self.output_names = [split_names(p.get("names", "")) for p in element.findall("output/port")]
        self.node: Node | None = None

    def _port_id(self, port: ET.Element) -> str:
        if "id" not in port.attrib:
            raise ModelFormatError(f"{self.where}: a port has no id")
        return port.attrib["id"]

    def data(self) -> dict[str, str]:
        element = self.element.find("data")
        return dict(element.attrib) if element is not None else {}


class IrReader:
    """Builds a Model from a parsed ``<net>`` element."""

    def __init__(self, root: ET.Element, source: str, weights: Weights):
        self.root = root
        self.source = source
        self.weights = weights
        if root.tag != "net":
            raise ModelFormatError(f"{source}: root element is <{root.tag}>, not <net>: not an IR file")
        version = root.get("version")
        if version not in IR_VERSIONS:
            raise ModelFormatError(f"{source}: IR version {version!r} is not supported "
                                   f"(supported: {', '.join(IR_VERSIONS)})")
        layers = root.find("layers")
        if layers is None:
            raise ModelFormatError(f"{source}: no <layers> element")
        self.layers: dict[str, Layer] = {}
        self.order: list[Layer] = []
        for element in layers.findall("layer"):
            layer = Layer(element, source)
            if layer.id in self.layers:
                raise ModelFormatError(f"{layer.where}: layer id {layer.id} is used twice")
            self.layers[layer.id] = layer
            self.order.append(layer)
        self.sources = self._edges()

    def _edges(self) -> dict[tuple[str, str], tuple[str, str]]:
        """Return (to-layer, to-port) -> (from-layer, from-port), checking that both ends exist."""
        sources = {}
        for edge in self.root.findall("edges/edge"):
            try:
                ends = [edge.attrib[k] for k in ("from-layer", "from-port", "to-layer", "to-port")]
            except KeyError as missing:
                raise ModelFormatError(f"{self.source}: an <edge> lacks {missing}") from None
            src_layer, src_port, dst_layer, dst_port = ends
            for layer_id, port, kind in ((src_layer, src_port, "output"), (dst_layer, dst_port, "input")):
                layer = self.layers.get(layer_id)
                if layer is None:
                    raise ModelFormatError(f"{self.source}: edge {ends} names layer {layer_id}, which does "
                                           "not exist")
                ports = layer.output_ports if kind == "output" else layer.input_ports
                if port not in ports:
                    raise ModelFormatError(f"{layer.where}: edge {ends} names {kind} port {port}, which the "
                                           "layer does not have")
            if (dst_layer, dst_port) in sources:
                raise ModelFormatError(f"{self.layers[dst_layer].where}: input port {dst_port} has two edges")
            sources[(dst_layer, dst_port)] = (src_layer, src_port)
        return sources

    def model(self) -> Model:
        for layer in self._topological_order():
            layer.node = self._build(layer)
        params = [layer.node for layer in self.order if layer.node.type_name == "Parameter"]
        results = [layer.node for layer in self.order if layer.node.type_name == "Result"]
        if not results:
            raise ModelFormatError(f"{self.source}: the model has no Result layer")
        model = Model(results, params, name=self.root.get("name", Path(self.source).stem))
        model.rt_info = read_model_rt_info(self.root.find("rt_info"))
        return model

    def _topological_order(self) -> list[Layer]:
        state: dict[str, int] = {}
        order = []
        for start in self.order:
            if start.id in state:
                continue
            stack = [(start, iter(self._producers(start)))]
            state[start.id] = 1
            while stack:
                layer, producers = stack[-1]
                producer = next(producers, None)
                if producer is None:
                    stack.pop()
                    state[layer.id] = 2
                    order.append(layer)
                elif state.get(producer.id) == 1:
                    raise ModelFormatError(f"{producer.where}: the edges form a cycle through this layer")
                elif producer.id not in state:
                    state[producer.id] = 1
                    stack.append((producer, iter(self._producers(producer))))
        return order

    def _producers(self, layer: Layer) -> list[Layer]:
        producers = []
        for port in layer.input_ports:
            src = self.sources.get((layer.id, port))
            if src is None:
                raise ModelFormatError(f"{layer.where}: input port {port} is not connected by any edge")
            producers.append(self.layers[src[0]])
        return producers

    def _inputs(self, layer: Layer) -> list[Output]:
        inputs = []
        for port in layer.input_ports:
            src_layer, src_port = self.sources[(layer.id, port)]
            producer = self.layers[src_layer]
            index = producer.output_ports.index(src_port)
            if index >= len(producer.node.output_types):
                raise ModelFormatError(
                    f"{layer.where}: input port {port} reads output port {src_port} of layer "
                    f"{producer.id} ({producer.name!r}), which Kiln infers has only "
                    f"{len(producer.node.output_types)} output(s)")
            inputs.append(Output(producer.node, index))
        return inputs

    def _build(self, layer: Layer) -> Node:
        try:
            node = self._node(layer)
        except KilnError as error:
            if layer.where in str(error):
                raise
            raise type(error)(f"{layer.where}: {error}") from error
        if layer.type != "Result":
            if len(layer.output_ports) != len(node.output_types):
                raise ModelFormatError(f"{layer.where}: the file declares {len(layer.output_ports)} output "
                                       f"port(s), the op has {len(node.output_types)}")
            for index, names in enumerate(layer.output_names):
                node.output_names[index] = names
        rt_info = layer.element.find("rt_info")
        if rt_info is not None:
            for attribute in rt_info.findall("attribute"):
                node.rt_info[attribute.get("name", "")] = attribute.get("value", "")
        self._check_outputs(layer, node)
        return node

    def _node(self, layer: Layer) -> Node:
        data = layer.data()
        kind = op_type(layer.type)
        if kind == "Constant":
            return self._constant(layer, data)
        inputs = self._inputs(layer)
        if kind == "Result":
            node = Node("Result", inputs, name=layer.name)
            node.output_names[0] = split_names(layer.element.get("output_names", ""))
            return node
        try:
            op = lookup(kind)
        except UnsupportedOpError:
            decompose = DECOMPOSITIONS.get((kind, layer.version))
            if decompose is None:
                raise UnsupportedOpError(f"{layer.where}: Kiln has no op {layer.type!r}") from None
            return decompose(inputs, data, layer.name, layer.where)
        accepted = op.versions or (op.version,)
        if layer.version and layer.version not in accepted:
            raise UnsupportedOpError(f"{layer.where}: Kiln implements {op.type_name} of "
                                     f"{', '.join(accepted)}, not {layer.version}")
        unknown = sorted(set(data) - set(op.attributes))
        if unknown:
            raise UnsupportedOpError(f"{layer.where}: attribute(s) {unknown} are not known to Kiln's "
                                     f"{op.type_name} (known: {sorted(op.attributes)})")
        attrs = {key: parse_attribute(op.attributes[key].kind, text, op.attributes[key].default,
                                      f"{layer.where}: attribute {key!r}")
                 for key, text in data.items()}
        return Node(op, inputs, attrs, name=layer.name)

    def _constant(self, layer: Layer, data: dict[str, str]) -> Node:
        for key in ("element_type", "shape", "offset", "size"):
            if key not in data:
                raise ModelFormatError(f"{layer.where}: <data> lacks {key!r}")
        etype = parse_element_type(data["element_type"], layer.where)
        try:
            shape = parse_shape(data["shape"])
            offset, size = int(data["offset"]), int(data["size"])
        except ValueError:
            raise ModelFormatError(f"{layer.where}: shape/offset/size {data['shape']!r}/{data['offset']!r}/"
                                   f"{data['size']!r} are not numbers") from None
        if shape is None or any(d is None for d in shape):
            raise ModelFormatError(f"{layer.where}: a constant needs a static shape, got {data['shape']!r}")
        expected = constant_size(shape, etype)
        if expected is not None and size < expected:
            raise ModelFormatError(f"{layer.where}: size={size} is too small for {etype.value}{list(shape)} "
                                   f"({expected} bytes)")
        blob = self.weights.read(offset, size, layer.where)
        value = decode_constant(blob, shape, etype, layer.where)
        return Node("Constant", [], {"value": value}, name=layer.name)

    def _check_outputs(self, layer: Layer, node: Node) -> None:
        """Check the inferred element types and static shapes against what the file declares.

        A disagreement means Kiln's op computes something else than the op that wrote
        the file (different semantics under one name): an error, never a silent answer.
        """
        ports = layer.element.findall("output/port")
        for index, port in enumerate(ports):
            if index >= len(node.output_types):
                continue
            etype, shape = node.output_types[index]
            dims = [d.text for d in port.findall("dim")]
            if dims and shape is not None and None not in shape:
                try:
                    declared_shape = tuple(int(d) for d in dims)
                except (TypeError, ValueError):
                    raise ModelFormatError(f"{layer.where}: output port {port.get('id')} has a dim that is "
                                           f"not a number: {dims}") from None
                if all(d >= 0 for d in declared_shape) and declared_shape != tuple(shape):
                    raise ModelFormatError(
                        f"{layer.where}: output port {port.get('id')} is declared {list(declared_shape)}, "
                        f"Kiln infers {list(shape)}")
            precision = port.get("precision")
            if precision is None:
                continue
            if precision.upper() != PRECISIONS[etype] and not _widened(precision, etype):
                raise ModelFormatError(
                    f"{layer.where}: output port {layer.output_ports[index]} is declared {precision}, "
                    f"Kiln infers {etype.value}")


def _widened(precision: str, etype) -> bool:
    """Return True for sub-byte types Kiln holds in a byte (u4/i4/u1 -> u8/i8/boolean)."""
    return (precision.upper(), etype.value) in {("U4", "u8"), ("I4", "i8")}


def split_names(text: str) -> set[str]:
    """Return the tensor names of a ``names=`` value (commas separate; ``\\,`` is a comma in a name)."""
    names, current, escaped = set(), [], False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ",":
            names.add("".join(current).strip())
            current = []
        else:
            current.append(char)
    names.add("".join(current).strip())
    names.discard("")
    return names


def read_model_rt_info(element: ET.Element | None) -> dict[str, str]:
    """Return a model's ``<rt_info>`` flattened to ``{"a/b": value}`` (``<info name value>`` by name)."""
    info: dict[str, str] = {}
    if element is None:
        return info

    def walk(node: ET.Element, prefix: str) -> None:
        for child in node:
            if child.tag == "info" and "name" in child.attrib:
                info[child.attrib["name"]] = child.get("value", "")
            elif "value" in child.attrib:
                info[prefix + child.tag] = child.attrib["value"]
            else:
                walk(child, f"{prefix}{child.tag}/")

    walk(element, "")
    return info

