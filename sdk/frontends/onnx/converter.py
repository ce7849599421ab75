"""Convert an ONNX ModelProto (or file) into a kiln.ir.Model."""

from __future__ import annotations

import heapq
import os
from pathlib import Path

import numpy as np
import onnx
from kiln.errors import KilnError, ModelFormatError, UnsupportedOpError
from kiln.frontends.onnx.functions import function_body, instantiate
from kiln.frontends.onnx.registry import find_converter
from kiln.ir import ElementType, Model, Node, Output, constant, parameter
from kiln.ir.graph import make
from onnx import numpy_helper

MIN_OPSET = 7
"""Oldest default-domain opset converted as is. Models of opsets 1..6 are converted node by node
when each op's definition at the model's opset is still the one in force at MIN_OPSET."""

_ONNX_TO_ETYPE = {
    onnx.TensorProto.FLOAT: ElementType.f32,
    onnx.TensorProto.DOUBLE: ElementType.f64,
    onnx.TensorProto.FLOAT16: ElementType.f16,
    onnx.TensorProto.BFLOAT16: ElementType.bf16,
    onnx.TensorProto.INT8: ElementType.i8,
    onnx.TensorProto.UINT8: ElementType.u8,
    onnx.TensorProto.INT16: ElementType.i16,
    onnx.TensorProto.UINT16: ElementType.u16,
    onnx.TensorProto.INT32: ElementType.i32,
    onnx.TensorProto.UINT32: ElementType.u32,
    onnx.TensorProto.INT64: ElementType.i64,
    onnx.TensorProto.UINT64: ElementType.u64,
    onnx.TensorProto.BOOL: ElementType.boolean,
    onnx.TensorProto.STRING: ElementType.string,
}


def element_type(onnx_type: int, where: str) -> ElementType:
    """Return the IR element type of an ONNX TensorProto data type."""
    try:
        return _ONNX_TO_ETYPE[onnx_type]
    except KeyError:
        name = onnx.TensorProto.DataType.Name(onnx_type) if onnx_type in onnx.TensorProto.DataType.values() \
            else str(onnx_type)
        raise UnsupportedOpError(f"{where}: ONNX element type {name} is not supported") from None


class NodeContext:
    """What a converter sees of one ONNX node: its inputs as IR ports, attributes, opset."""

    def __init__(self, converter: OnnxConverter, node: onnx.NodeProto, opset: int):
        self.converter = converter
        self.proto = node
        self.opset = opset
        local = node.name or f"{node.op_type}_{node.output[0] if node.output else ''}"
        self.name = converter.prefix + local
        self.inputs: list[Output | None] = [
            converter.tensor(name, self) if name else None for name in node.input]
        self._attrs = {a.name: a for a in node.attribute}
        self._count = 0

    @property
    def op_type(self) -> str:
        return self.proto.op_type

    @property
    def num_outputs(self) -> int:
        return len(self.proto.output)

    def input(self, index: int) -> Output:
        """Return input ``index`` as an IR port; raise if it is absent."""
        port = self.optional_input(index)
        if port is None:
            raise UnsupportedOpError(f"{self.where}: required input {index} is missing")
        return port

    def optional_input(self, index: int) -> Output | None:
        return self.inputs[index] if index < len(self.inputs) else None

    def input_value(self, index: int) -> np.ndarray | None:
        """Return input ``index``'s value when it is a constant, else None."""
        port = self.optional_input(index)
        return None if port is None else port.constant_value()

    def has_attr(self, name: str) -> bool:
        return name in self._attrs

    def attr(self, name: str, default=None):
        """Return attribute ``name`` as a Python value (tensors as numpy arrays)."""
        if name not in self._attrs:
            return default
        value = onnx.helper.get_attribute_value(self._attrs[name])
        if isinstance(value, onnx.TensorProto):
            return numpy_helper.to_array(value)
        if isinstance(value, bytes):
            return value.decode()
        if isinstance(value, list) and value and isinstance(value[0], bytes):
            return [v.decode() for v in value]
        if isinstance(value, list):
            return list(value)
        return value

    @property
    def where(self) -> str:
        return f"{self.converter.source}: node {self.name!r} ({self.op_type}, opset {self.opset})"

    def unsupported(self, what: str) -> UnsupportedOpError:
        """Return an error naming this node, for a feature the converter does not handle."""
        return UnsupportedOpError(f"{self.where}: {what}")

    def make(self, op_type: str, *inputs: Output, **attrs) -> Output:
        """Create an IR node named after this ONNX node; return its first output."""
        return self.make_node(op_type, *inputs, **attrs).output(0)

    def make_node(self, op_type: str, *inputs: Output, **attrs) -> Node:
        self._count += 1
        name = self.name if self._count == 1 else f"{self.name}/{op_type}_{self._count}"
        return make(op_type, *inputs, name=name, **attrs)

    def const(self, value, dtype=None) -> Output:
        """Return a Constant port holding ``value`` (numpy dtype ``dtype`` if given)."""
        self._count += 1
        array = np.asarray(value, dtype=dtype)
        return constant(array, name=f"{self.name}/const_{self._count}")


class OnnxConverter:
    """Converts one ONNX graph; ``tensors`` maps ONNX tensor names to IR ports."""

    def __init__(self, proto: onnx.ModelProto, source: str):
        self.proto = proto
        self.source = source
        self.tensors: dict[str, Output] = {}
        self.prefix = ""
        """Prepended to the IR names of nodes made in this scope (unique per subgraph instance)."""
        self.opsets = {(imp.domain or ""): imp.version for imp in proto.opset_import}
        if "ai.onnx" in self.opsets:
            self.opsets[""] = self.opsets.pop("ai.onnx")
        version = self.opsets.get("")
        if version is None and not self.opsets:
            raise UnsupportedOpError(f"{source}: the model imports no ONNX opset")
        latest = onnx.defs.onnx_opset_version()
        if version is not None and not 1 <= version <= latest:
            raise UnsupportedOpError(
                f"{source}: ONNX opset {version} is not supported (supported: {MIN_OPSET}..{latest}, "
                f"and older opsets for ops unchanged since)")

    def tensor(self, name: str, ctx: NodeContext | None = None) -> Output:
        try:
            return self.tensors[name]
        except KeyError:
            where = ctx.where if ctx else self.source
            raise ModelFormatError(f"{where}: input tensor {name!r} is not produced by any node, "
                                   "initializer or graph input") from None

    def convert(self) -> Model:
        graph = self.proto.graph
        initializers = set()
        for init in graph.initializer:
            try:
                array = numpy_helper.to_array(init, base_dir=self._base_dir())
            except Exception as error:
                raise ModelFormatError(f"{self.source}: initializer {init.name!r} cannot be read: {error}") \
                    from error
            port = constant(np.asarray(array), name=init.name)
            port.names.add(init.name)
            self.tensors[init.name] = port
            initializers.add(init.name)
        params = []
        for value_info in graph.input:
            if value_info.name in initializers:
                continue
            params.append(self._parameter(value_info))
        for node in self._sorted_nodes(graph):
            self._convert_node(node)
        results = []
        for value_info in graph.output:
            port = self.tensor(value_info.name)
            result = Node("Result", [port], name=value_info.name)
            result.output_names[0].add(value_info.name)
            results.append(result)
        return Model(results, params, name=graph.name or Path(self.source).stem)

    def convert_body(self, graph: onnx.GraphProto, inputs: list[Output], prefix: str) -> list[Output]:
        """Inline one instance of a subgraph (If branch, Loop/Scan body) into the IR graph.

        The body sees every tensor of the enclosing scopes, its own initializers, and its
        graph inputs bound to ``inputs``; its nodes get IR names starting with ``prefix``.
        Returns the ports of its graph outputs.
        """
        if len(inputs) != len(graph.input):
            raise ModelFormatError(f"{self.source}: subgraph {graph.name!r} takes {len(graph.input)} "
                                   f"inputs, got {len(inputs)}")
        scope = OnnxConverter.__new__(OnnxConverter)
        scope.__dict__.update(self.__dict__)
        scope.tensors = dict(self.tensors)
        scope.prefix = prefix
        for init in graph.initializer:
            port = constant(np.asarray(numpy_helper.to_array(init)), name=f"{prefix}{init.name}")
            scope.tensors[init.name] = port
        for value_info, port in zip(graph.input, inputs):
            scope.tensors[value_info.name] = port
        for node in scope._sorted_nodes(graph):
            scope._convert_node(node)
        return [scope.tensor(v.name) for v in graph.output]

    def _legacy_opset(self, node: onnx.NodeProto, opset: int) -> int:
        """Return MIN_OPSET for a node of an older opset whose op definition did not change since;
        raise naming the node when it did (its old semantics are not converted)."""
        try:
            old = onnx.defs.get_schema(node.op_type, opset).since_version
            current = onnx.defs.get_schema(node.op_type, MIN_OPSET).since_version
        except onnx.defs.SchemaError:
            old, current = None, -1
        if old != current:
            raise UnsupportedOpError(
                f"{self.source}: node {node.name!r} ({node.op_type}): the opset {opset} definition of "
                f"{node.op_type} differs from opset {MIN_OPSET}'s; ONNX opsets below {MIN_OPSET} are "
                "supported only for ops unchanged since")
        return MIN_OPSET

    def _expand_function(self, node: onnx.NodeProto, opset: int) -> bool:
        """Convert ``node`` through its ONNX function body; return False when it has none."""
        inputs = [self.tensors.get(name) if name else None for name in node.input]
        if any(name and port is None for name, port in zip(node.input, inputs)):
            return False
        body = function_body(node, opset, inputs, onnx_element_type)
        if body is None:
            return False
        label = node.name or f"{node.op_type}_{node.output[0] if node.output else ''}"
        scope = OnnxConverter.__new__(OnnxConverter)
        scope.__dict__.update(self.__dict__)
        scope.opsets = dict(self.opsets)
        for imp in body.opset_import:
            scope.opsets["" if imp.domain in ("", "ai.onnx") else imp.domain] = imp.version
        scope.prefix = f"{self.prefix}{label}/"
        scope.tensors = self.tensors  # shared: the body's internal tensor names are prefixed, unique
        graph = onnx.GraphProto()
        graph.node.extend(instantiate(node, body, f"{self.prefix}{label}/"))
        for inner in scope._sorted_nodes(graph):
            scope._convert_node(inner)
        for name in node.output:
            if name:
                port = scope.tensors.get(name)
                if port is None:
                    raise UnsupportedOpError(f"{self.source}: node {label!r} ({node.op_type}): its ONNX "
                                             f"function body does not produce output {name!r}")
                if not self.prefix:
                    port.names.add(name)
                self.tensors[name] = port
        return True

    def _base_dir(self) -> str:
        return os.path.dirname(self.source) if os.path.exists(self.source) else ""

    def _parameter(self, value_info: onnx.ValueInfoProto) -> Node:
        where = f"{self.source}: input {value_info.name!r}"
        if not value_info.type.HasField("tensor_type"):
            raise UnsupportedOpError(f"{where}: only tensor inputs are supported")
        ttype = value_info.type.tensor_type
        etype = element_type(ttype.elem_type, where)
        shape = None
        if ttype.HasField("shape"):
            shape = tuple(d.dim_value if d.HasField("dim_value") else None for d in ttype.shape.dim)
        node = parameter(value_info.name, etype, shape)
        self.tensors[value_info.name] = node.output(0)
        return node

    def _sorted_nodes(self, graph: onnx.GraphProto) -> list[onnx.NodeProto]:
        """Return the graph's nodes so that every node follows its producers (file order kept
        where the dependencies allow; linear in the graph size)."""
        nodes = list(graph.node)
        available = set(self.tensors) | {""}
        producer = {}
        for index, node in enumerate(nodes):
            for name in node.output:
                if name:
                    producer.setdefault(name, index)
        waiting = [0] * len(nodes)
        readers: list[list[int]] = [[] for _ in nodes]
        for index, node in enumerate(nodes):
            deps = set()
            for name in _reads(node):
                if name in available:
                    continue
                if name not in producer:
                    raise ModelFormatError(
                        f"{self.source}: node {node.name!r} ({node.op_type}) reads [{name!r}], which no node "
                        "produces")
                deps.add(producer[name])
            waiting[index] = len(deps)
            for dep in deps:
                readers[dep].append(index)
        ready = [i for i, count in enumerate(waiting) if count == 0]
        heapq.heapify(ready)
        ordered = []
        while ready:
            index = heapq.heappop(ready)
            ordered.append(nodes[index])
            for reader in readers[index]:
                waiting[reader] -= 1
                if waiting[reader] == 0:
                    heapq.heappush(ready, reader)
        if len(ordered) != len(nodes):
            stuck = next(nodes[i] for i, count in enumerate(waiting) if count > 0)
            raise ModelFormatError(f"{self.source}: node {stuck.name!r} ({stuck.op_type}) is on a cycle: "
                                   "it reads, through other nodes, its own outputs")
        return ordered

    def _convert_node(self, node: onnx.NodeProto) -> None:
        domain = "" if node.domain in ("", "ai.onnx") else node.domain
        opset = self.opsets.get(domain)
        if opset is None:
            raise UnsupportedOpError(
                f"{self.source}: node {node.name!r} ({node.op_type}) uses domain {node.domain!r}, "
                "which the model does not import")
        if domain == "" and opset < MIN_OPSET:
            opset = self._legacy_opset(node, opset)
        fn = find_converter(domain, node.op_type, opset)
        if fn is None and self._expand_function(node, opset):
            return
        if fn is None:
            label = f"{node.domain}::{node.op_type}" if domain else node.op_type
            raise UnsupportedOpError(
                f"{self.source}: node {node.name!r}: ONNX op {label} (opset {opset}) is not supported")
        ctx = NodeContext(self, node, opset)
        try:
            outputs = fn(ctx)
        except KilnError:
            raise
        except Exception as error:
            raise UnsupportedOpError(f"{ctx.where}: conversion failed: {type(error).__name__}: {error}") \
                from error
        if isinstance(outputs, Output):
            outputs = [outputs]
        for name, port in zip(node.output, outputs):
            if not name or port is None:
                continue
            if not self.prefix:  # tensor names inside subgraphs are local to one body instance
                port.names.add(name)
            self.tensors[name] = port


def onnx_element_type(etype: ElementType) -> int:
    """Return the ONNX TensorProto data type of an IR element type."""
    for onnx_type, candidate in _ONNX_TO_ETYPE.items():
        if candidate is etype:
            return onnx_type
    raise UnsupportedOpError(f"element type {etype.value} has no ONNX equivalent")


def _reads(node: onnx.NodeProto) -> list[str]:
    """Return the tensors ``node`` reads: its inputs and what its subgraphs take from outer scopes."""
    names = list(node.input)
    for attr in node.attribute:
        graphs = [attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs)
        for graph in graphs:
            local = {i.name for i in graph.input} | {i.name for i in graph.initializer}
            for inner in graph.node:
                local.update(inner.output)
            for inner in graph.node:
                names.extend(n for n in _reads(inner) if n and n not in local)
    return names


def convert_onnx(model: str | os.PathLike | bytes | onnx.ModelProto) -> Model:
    """Return the IR Model of an ONNX model given as a path, serialized bytes or a ModelProto."""
    if isinstance(model, onnx.ModelProto):
        proto, source = model, model.graph.name or "<ModelProto>"
    elif isinstance(model, bytes):
        proto, source = _parse(model, "<bytes>"), "<bytes>"
    else:
        source = os.fspath(model)
        if not os.path.exists(source):
            raise FileNotFoundError(f"{source}: no such file")
        with open(source, "rb") as f:
            proto = _parse(f.read(), source)
    return OnnxConverter(proto, source).convert()


def _parse(data: bytes, source: str) -> onnx.ModelProto:
    proto = onnx.ModelProto()
    try:
        proto.ParseFromString(data)
    except Exception as error:
        raise ModelFormatError(f"{source}: not a valid ONNX file (protobuf parse failed: {error})") from None
    if not proto.graph.node and not proto.graph.output:
        raise ModelFormatError(f"{source}: not a valid ONNX file (no graph)")
    return proto
