"""ONNX function ops (Attention, losses, RotaryEmbedding, ...) expanded from their ONNX function bodies.

ONNX defines these ops as functions: a body of simpler ONNX nodes, often built for the node's
attributes and input types (a context-dependent function). Kiln asks the onnx schema for that
body and converts its nodes one by one with the ordinary converters (at the body's own opset),
as OpenVINO's ONNX frontend does for function ops it has no dedicated translator for.
"""

from __future__ import annotations

import onnx
from kiln.errors import UnsupportedOpError
from kiln.frontends.onnx.registry import find_converter, onnx_op
from onnx import helper

FUNCTION_OPS = (
    "Attention", "FlexAttention", "RotaryEmbedding", "SwiGLU", "CausalConvWithState",
    "SoftmaxCrossEntropyLoss", "NegativeLogLikelihoodLoss",
)
"""ONNX ops converted by expanding their function body."""


def function_body(ctx) -> onnx.FunctionProto:
    """Return the ONNX function body of ``ctx``'s node for its opset and input types."""
    try:
        schema = onnx.defs.get_schema(ctx.op_type, ctx.opset, ctx.proto.domain)
    except onnx.defs.SchemaError:
        raise ctx.unsupported("the onnx package has no schema for this op at this opset") from None
    if schema.has_context_dependent_function:
        types = []
        for port in ctx.inputs:
            if port is None:
                types.append(onnx.TypeProto().SerializeToString())
                continue
            elem = helper.np_dtype_to_tensor_dtype(port.element_type.numpy) \
                if port.element_type.value != "bf16" else onnx.TensorProto.BFLOAT16
            shape = None if port.shape is None else list(port.shape)
            types.append(helper.make_tensor_type_proto(elem, shape).SerializeToString())
        data = schema.get_context_dependent_function(ctx.proto.SerializeToString(), types)
        body = onnx.FunctionProto()
        body.ParseFromString(data)
        if not body.node:
            raise ctx.unsupported("the onnx schema builds no function body for these inputs/attributes")
        return body
    if schema.has_function:
        return schema.function_body
    raise ctx.unsupported("the op has no ONNX function body to expand")


def resolved_node(node: onnx.NodeProto, prefix: str, attrs: dict) -> onnx.NodeProto:
    """Return a copy of a body node with tensor names under ``prefix`` and attribute refs filled in."""
    copy = onnx.NodeProto()
    copy.CopyFrom(node)
    copy.name = prefix + (node.name or node.op_type + "_" + (node.output[0] if node.output else ""))
    copy.input[:] = [prefix + name if name else "" for name in node.input]
    copy.output[:] = [prefix + name if name else "" for name in node.output]
    kept = []
    for attr in copy.attribute:
        if attr.ref_attr_name:
            if attr.ref_attr_name in attrs:
                value = onnx.AttributeProto()
                value.CopyFrom(attrs[attr.ref_attr_name])
                value.name = attr.name
                kept.append(value)
            continue
        kept.append(attr)
    del copy.attribute[:]
    copy.attribute.extend(kept)
    return copy


def expand_function(ctx):
    """Convert the node by converting each node of its ONNX function body."""
    from kiln.frontends.onnx.converter import NodeContext

    body = function_body(ctx)
    opsets = {(imp.domain or ""): imp.version for imp in body.opset_import}
    prefix = f"{ctx.name}/{ctx.op_type}/"
    tensors = ctx.converter.tensors
    for formal, port in zip(body.input, ctx.inputs):
        if port is not None:
            tensors[prefix + formal] = port
    attrs = {a.name: a for a in ctx.proto.attribute}
    for node in body.node:
        inner = resolved_node(node, prefix, attrs)
        domain = "" if node.domain in ("", "ai.onnx") else node.domain
        opset = opsets.get(domain, ctx.opset if domain == "" else None)
        converter = None if opset is None else find_converter(domain, node.op_type, opset)
        if converter is None:
            raise UnsupportedOpError(
                f"{ctx.where}: its function body uses ONNX op {node.op_type} (opset {opset}), "
                "which is not supported")
        inner_ctx = NodeContext(ctx.converter, inner, opset)
        outputs = converter(inner_ctx)
        if not isinstance(outputs, (list, tuple)):
            outputs = [outputs]
        for name, port in zip(inner.output, outputs):
            if name and port is not None:
                tensors[name] = port
    results = []
    for index, formal in enumerate(body.output):
        wanted = index < ctx.num_outputs and ctx.proto.output[index]
        results.append(tensors.get(prefix + formal) if wanted else None)
    return results


for _op in FUNCTION_OPS:
    onnx_op(_op)(expand_function)
