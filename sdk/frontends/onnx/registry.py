"""Registry of ONNX op converters: one small function per ONNX op, versioned by opset.

A converter is ``fn(ctx: NodeContext) -> Output | list[Output | None]`` returning one IR
port per ONNX output. Register it with ``@onnx_op("Conv")`` (or ``since=13`` for the
semantics that start at opset 13); the converter with the highest ``since`` not above
the model's opset is used.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable

from kiln.ir.op import register_package

CONVERTERS: dict[tuple[str, str], list[tuple[int, Callable]]] = {}


def onnx_op(op_type: str, since: int = 1, domain: str = "") -> Callable[[Callable], Callable]:
    """Register the decorated function as the converter of ``domain::op_type`` from opset ``since``."""

    def register(fn: Callable) -> Callable:
        entries = CONVERTERS.setdefault((domain, op_type), [])
        bisect.insort(entries, (since, fn), key=lambda e: e[0])
        return fn

    return register


def find_converter(domain: str, op_type: str, opset: int) -> Callable | None:
    """Return the converter for ``op_type`` at ``opset``, or None if there is none."""
    _load_all()
    entries = CONVERTERS.get(("" if domain == "ai.onnx" else domain, op_type))
    if not entries:
        return None
    chosen = None
    for since, fn in entries:
        if since <= opset:
            chosen = fn
    return chosen


def supported_ops() -> list[str]:
    """Return the names of every ONNX op with a converter."""
    _load_all()
    return sorted(op for _, op in CONVERTERS)


def _load_all() -> None:
    register_package("kiln.frontends.onnx.ops")
