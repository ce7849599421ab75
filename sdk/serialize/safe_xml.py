"""Parse IR XML without ever expanding entities or fetching external resources."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from kiln.errors import ModelFormatError

_DECLARATIONS = re.compile(rb"<!\s*(DOCTYPE|ENTITY|ELEMENT|ATTLIST|NOTATION)", re.IGNORECASE)


def parse_xml(data: bytes, source: str) -> ET.Element:
    """Return the root element of XML ``data`` read from ``source``.

    Any document type declaration is refused up front, so no entity (internal,
    external or recursive, "billion laughs") is ever defined, expanded or fetched:
    without a DTD only XML's five predefined entities exist. Non-UTF-8 encodings
    (which could hide a declaration from the scan) are refused too.
    Raises ModelFormatError naming ``source`` (and the line of a syntax error).
    """
    text = data
    if text.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in text[:4096]:
        raise ModelFormatError(f"{source}: IR XML must be UTF-8 (found UTF-16/32 or binary data)")
    match = _DECLARATIONS.search(text)
    if match:
        line = text.count(b"\n", 0, match.start()) + 1
        raise ModelFormatError(
            f"{source}: line {line}: XML document type / entity declarations are not allowed in IR files")
    parser = ET.XMLParser()
    try:
        parser.feed(text)
        return parser.close()
    except ET.ParseError as error:
        line, column = getattr(error, "position", (0, 0))
        raise ModelFormatError(f"{source}: not well-formed XML at line {line}, column {column}: {error}") \
            from None
