"""Expand ONNX ops that the ONNX standard defines as functions into their function bodies.

Many newer ONNX ops (SoftmaxCrossEntropyLoss, RMSNormalization, Attention, CenterCropPad,
window functions, ...) come with a FunctionProto in their schema that defines them in
terms of simpler ops; some bodies depend on the node's input types ("context-dependent").
When Kiln has no converter of its own for an op, the converter core instantiates the body
for the node (binding inputs, outputs and attribute references) and converts its nodes.
"""

from __future__ import annotations

from collections.abc import Callable

import onnx
from kiln.ir import ElementType, Output


def function_body(node: onnx.NodeProto, opset: int, inputs: list[Output | None],
                  onnx_type: Callable[[ElementType], int]) -> onnx.FunctionProto | None:
    """Return the schema's function body for ``node`` at ``opset``, or None if it has none.

    ``inputs`` give the element types and shapes that context-dependent bodies need;
    ``onnx_type`` maps an IR element type to an ONNX TensorProto data type.
    """
    try:
        schema = onnx.defs.get_schema(node.op_type, opset, node.domain)
    except onnx.defs.SchemaError:
        return None
    versions = [v for v in schema.function_opset_versions if v <= opset]
    if versions:
        data = schema.get_function_with_opset_version(max(versions))
    else:
        versions = [v for v in schema.context_dependent_function_opset_versions if v <= opset]
        if not versions:
            return None
        types = []
        for port in inputs:
            if port is None:
                types.append(onnx.TypeProto())
                continue
            shape = None if port.shape is None else list(port.shape)
            types.append(onnx.helper.make_tensor_type_proto(onnx_type(port.element_type), shape))
        with_defaults = _with_default_attributes(node, schema)
        data = schema.get_context_dependent_function_with_opset_version(
            max(versions), with_defaults.SerializeToString(), [t.SerializeToString() for t in types])
    body = onnx.FunctionProto()
    body.ParseFromString(data)
    return body if body.node else None


def _with_default_attributes(node: onnx.NodeProto, schema) -> onnx.NodeProto:
    """Return a copy of ``node`` with the schema's default for every attribute it leaves unset."""
    copy = onnx.NodeProto()
    copy.CopyFrom(node)
    present = {a.name for a in node.attribute}
    for name, spec in schema.attributes.items():
        if name not in present and spec.default_value.name:
            copy.attribute.append(spec.default_value)
    return copy


def instantiate(node: onnx.NodeProto, body: onnx.FunctionProto, prefix: str) -> list[onnx.NodeProto]:
    """Return the body's nodes bound to ``node``: formal inputs/outputs renamed to the node's
    tensors, internal tensors prefixed with ``prefix``, attribute references resolved. Node
    names stay the body's own (the converter prefixes IR node names per scope)."""
    try:
        schema = onnx.defs.get_schema(node.op_type, max(i.version for i in body.opset_import), node.domain)
        bound = _with_default_attributes(node, schema)
    except (onnx.defs.SchemaError, ValueError):
        bound = node
    attributes = {a.name: a for a in bound.attribute}
    for default in body.attribute_proto:
        attributes.setdefault(default.name, default)
    names = {}
    for index, formal in enumerate(body.input):
        names[formal] = node.input[index] if index < len(node.input) else ""
    for index, formal in enumerate(body.output):
        if index < len(node.output) and node.output[index]:
            names[formal] = node.output[index]

    def rename(name: str) -> str:
        if name in names:
            return names[name]
        return "" if not name else prefix + name

    return [_bound_node(inner, rename, attributes) for inner in body.node]


def _bound_node(inner: onnx.NodeProto, rename, attributes) -> onnx.NodeProto:
    out = onnx.NodeProto()
    out.CopyFrom(inner)
    out.name = inner.name or f"{inner.op_type}_{inner.output[0] if inner.output else ''}"
    del out.input[:]
    out.input.extend(rename(n) for n in inner.input)
    del out.output[:]
    out.output.extend(rename(n) for n in inner.output)
    del out.attribute[:]
    for attr in inner.attribute:
        if attr.ref_attr_name:
            if attr.ref_attr_name not in attributes:
                continue
            resolved = onnx.AttributeProto()
            resolved.CopyFrom(attributes[attr.ref_attr_name])
            resolved.name = attr.name
            out.attribute.append(resolved)
            continue
        copy = onnx.AttributeProto()
        copy.CopyFrom(attr)
        graphs = [copy.g] if copy.type == onnx.AttributeProto.GRAPH else list(copy.graphs)
        for graph in graphs:
            nodes = [_bound_node(n, rename, attributes) for n in graph.node]
            del graph.node[:]
            graph.node.extend(nodes)
            for value in list(graph.input) + list(graph.output):
                value.name = rename(value.name)
        out.attribute.append(copy)
    return out
