"""Attribute values as IR v11 text, one codec per ``AttrKind``.

Lists are written ``"1, 2, 3"`` (OpenVINO's spelling) and read with or without the
spaces; booleans are ``true``/``false``; shapes are ``"?,3,224,224"`` with ``?`` (or
``-1``, or a range ``1..10``) for a dynamic dimension, ``""`` for a scalar and ``...``
for an unknown rank; element types are their lower-case names (``f32``).
"""

from __future__ import annotations

import math

from kiln.errors import ModelFormatError
from kiln.ir import AttrKind, ElementType
from kiln.serialize.precision import parse_element_type


def format_attribute(kind: AttrKind, value) -> str:
    """Return the XML text of an attribute value of ``kind``."""
    if kind is AttrKind.BOOL:
        return "true" if value else "false"
    if kind is AttrKind.INT:
        return str(int(value))
    if kind is AttrKind.INTS:
        return ", ".join(str(int(v)) for v in value)
    if kind is AttrKind.FLOAT:
        return _format_float(value)
    if kind is AttrKind.FLOATS:
        return ", ".join(_format_float(v) for v in value)
    if kind is AttrKind.STR:
        return str(value)
    if kind is AttrKind.STRS:
        return ",".join(str(v) for v in value)
    if kind is AttrKind.ETYPE:
        return value.value if isinstance(value, ElementType) else str(value)
    if kind is AttrKind.SHAPE:
        if value is None:
            return "..."
        return ",".join("?" if d is None else str(int(d)) for d in value)
    raise ValueError(f"attribute kind {kind} has no IR text form")


def _format_float(value) -> str:
    value = float(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return repr(value)


def parse_attribute(kind: AttrKind, text: str, default, where: str):
    """Return the value of attribute text of ``kind``; raise ModelFormatError naming ``where``.

    Lists come back as the container type of ``default`` (a tuple or a list; list when
    there is no default), so that a file written by Kiln reads back equal.
    """
    try:
        value = _parse(kind, text.strip(), where)
    except (ValueError, OverflowError):
        raise ModelFormatError(f"{where}: cannot read {text!r} as {kind.value}") from None
    if kind in (AttrKind.INTS, AttrKind.FLOATS, AttrKind.STRS) and isinstance(default, tuple):
        value = tuple(value)
    return value


def _parse(kind: AttrKind, text: str, where: str):
    if kind is AttrKind.BOOL:
        lowered = text.lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0"):
            return False
        raise ValueError(text)
    if kind is AttrKind.INT:
        return int(text)
    if kind is AttrKind.INTS:
        return [int(v) for v in _split(text)]
    if kind is AttrKind.FLOAT:
        return float(text)
    if kind is AttrKind.FLOATS:
        return [float(v) for v in _split(text)]
    if kind is AttrKind.STR:
        return text
    if kind is AttrKind.STRS:
        return _split(text)
    if kind is AttrKind.ETYPE:
        return parse_element_type(text, where)
    if kind is AttrKind.SHAPE:
        return parse_shape(text)
    raise ValueError(text)


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",")] if text else []


def parse_shape(text: str) -> tuple | None:
    """Return a shape from IR text: ``None`` for ``...``, ``None`` dims for ``?``/``-1``/ranges."""
    text = text.strip()
    if text in ("...", "?..."):
        return None
    dims = []
    for part in _split(text):
        if part in ("?", "-1") or ".." in part:
            dims.append(None)
        else:
            dim = int(part)
            if dim < 0:
                raise ValueError(part)
            dims.append(dim)
    return tuple(dims)
