"""Matrix products: MatMul (numpy matmul rules with optional transposes) and Einsum."""

from __future__ import annotations

import re

import numpy as np
from kiln.errors import ShapeInferenceError
from kiln.ir.op import Attr, AttrKind, Op
from kiln.ir.ops.convolution import accumulator
from kiln.ir.types import broadcast_shapes


class MatMul(Op):
    """Multiply the last two dims of A and B, broadcasting the leading (batch) dims.

    ``transpose_a``/``transpose_b`` swap the last two dims first (ignored for 1-D inputs).
    A 1-D A is a row (1, K) and a 1-D B a column (K, 1); that unit dim is then removed.
    """

    type_name = "MatMul"
    attributes = {"transpose_a": Attr(AttrKind.BOOL, False), "transpose_b": Attr(AttrKind.BOOL, False)}
    num_inputs = (2, 2)

    @classmethod
    def infer(cls, node):
        a, b = node.inputs
        if a.element_type != b.element_type:
            raise ShapeInferenceError(
                f"node {node.name!r} (MatMul): element types differ: {node.describe_inputs()}")
        if a.shape is None or b.shape is None:
            return [(a.element_type, None)]
        if len(a.shape) == 0 or len(b.shape) == 0:
            raise ShapeInferenceError(f"node {node.name!r} (MatMul): scalar inputs: {node.describe_inputs()}")
        sa, sb = list(a.shape), list(b.shape)
        if len(sa) >= 2 and node.attrs["transpose_a"]:
            sa[-2:] = sa[-1], sa[-2]
        if len(sb) >= 2 and node.attrs["transpose_b"]:
            sb[-2:] = sb[-1], sb[-2]
        row, col = len(sa) == 1, len(sb) == 1
        if row:
            sa = [1] + sa
        if col:
            sb = sb + [1]
        k_a, k_b = sa[-1], sb[-2]
        if k_a is not None and k_b is not None and k_a != k_b:
            raise ShapeInferenceError(
                f"node {node.name!r} (MatMul): inner dims {k_a} and {k_b} differ: {node.describe_inputs()}")
        try:
            batch = broadcast_shapes(tuple(sa[:-2]), tuple(sb[:-2]))
        except ValueError as error:
            raise ShapeInferenceError(f"node {node.name!r} (MatMul): batch dims: {error}") from None
        shape = list(batch) + ([] if row else [sa[-2]]) + ([] if col else [sb[-1]])
        return [(a.element_type, tuple(shape))]

    @classmethod
    def evaluate(cls, node, inputs):
        a, b = inputs
        if a.ndim >= 2 and node.attrs["transpose_a"]:
            a = np.swapaxes(a, -1, -2)
        if b.ndim >= 2 and node.attrs["transpose_b"]:
            b = np.swapaxes(b, -1, -2)
        acc = accumulator(a.dtype)
        return [np.matmul(a.astype(acc, copy=False), b.astype(acc, copy=False)).astype(inputs[0].dtype)]


class Einsum(Op):
    """Einstein summation of the inputs by ``equation`` (numpy's einsum notation, with ``...``)."""

    type_name = "Einsum"
    version = "opset7"
    attributes = {"equation": Attr(AttrKind.STR)}
    num_inputs = (1, 1 << 30)

    @classmethod
    def infer(cls, node):
        equation = node.attrs["equation"].replace(" ", "")
        terms = equation.split("->")[0].split(",")
        if len(terms) != len(node.inputs) or not re.fullmatch(r"[A-Za-z.,\->]*", equation):
            raise ShapeInferenceError(
                f"node {node.name!r} (Einsum): equation {equation!r} does not fit {len(node.inputs)} inputs")
        types = {port.element_type for port in node.inputs}
        if len(types) != 1:
            raise ShapeInferenceError(
                f"node {node.name!r} (Einsum): element types differ: {node.describe_inputs()}")
        etype = node.inputs[0].element_type
        if any(port.shape is None for port in node.inputs):
            return [(etype, None)]
        return [(etype, einsum_shape(node, equation, terms))]

    @classmethod
    def evaluate(cls, node, inputs):
        acc = accumulator(inputs[0].dtype)
        operands = [x.astype(acc, copy=False) for x in inputs]
        out = np.einsum(node.attrs["equation"].replace(" ", ""), *operands, optimize=len(operands) > 2)
        return [np.asarray(out).astype(inputs[0].dtype)]


def einsum_shape(node, equation: str, terms: list[str]) -> tuple:
    """Return Einsum's output shape from the input shapes, keeping unknown dims unknown.

    A letter's size is any known size it has; ``...`` dims broadcast numpy-style; without
    ``->`` the output lists the letters that appear once, in alphabetical order.
    """
    sizes: dict[str, int | None] = {}
    ellipsis: tuple | None = ()
    for term, port in zip(terms, node.inputs):
        letters = term.replace("...", "")
        extra = len(port.shape) - len(letters)
        if extra < 0 or (extra > 0 and "..." not in term):
            raise ShapeInferenceError(
                f"node {node.name!r} (Einsum): term {term!r} does not fit input shape {list(port.shape)}")
        head = term.index("...") if "..." in term else len(term)
        dims = list(port.shape)
        named = dims[:head] + dims[head + extra:]
        if "..." in term:
            try:
                ellipsis = broadcast_shapes(ellipsis, tuple(dims[head:head + extra]))
            except ValueError as error:
                raise ShapeInferenceError(f"node {node.name!r} (Einsum): {error}") from None
        for letter, dim in zip(letters, named):
            known = sizes.get(letter)
            if known is not None and dim is not None and known != dim and 1 not in (known, dim):
                raise ShapeInferenceError(
                    f"node {node.name!r} (Einsum): label {letter!r} is {known} in one input and {dim} "
                    "in another")
            if known is None or known == 1:
                sizes[letter] = dim
    if "->" in equation:
        output = equation.split("->")[1]
    else:
        counts = {c: "".join(terms).count(c) for c in set("".join(terms).replace(".", ""))}
        output = ("..." if any("..." in t for t in terms) else "") + "".join(
            sorted(c for c, n in counts.items() if n == 1))
    unknown = set(output.replace("...", "")) - set(sizes)
    if unknown:
        raise ShapeInferenceError(
            f"node {node.name!r} (Einsum): output labels {sorted(unknown)} appear in no input")
    if "..." in output:
        head, tail = output.split("...")
        return tuple([sizes[c] for c in head] + list(ellipsis) + [sizes[c] for c in tail])
    return tuple(sizes[c] for c in output)
