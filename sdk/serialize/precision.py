"""Element types as IR v11 spells them: ``element_type`` attributes and port ``precision``."""

from __future__ import annotations

from kiln.ir import ElementType

PRECISIONS = {
    ElementType.f64: "FP64",
    ElementType.f32: "FP32",
    ElementType.f16: "FP16",
    ElementType.bf16: "BF16",
    ElementType.i4: "I4",
    ElementType.u4: "U4",
    ElementType.i8: "I8",
    ElementType.u8: "U8",
    ElementType.i16: "I16",
    ElementType.u16: "U16",
    ElementType.i32: "I32",
    ElementType.u32: "U32",
    ElementType.i64: "I64",
    ElementType.u64: "U64",
    ElementType.boolean: "BOOL",
    ElementType.string: "STRING",
}
"""Port ``precision`` text of each element type."""


def parse_element_type(text: str, where: str) -> ElementType:
    """Return the element type named ``text`` (``f32``, ``i64``, ``boolean``, ...).

    Raises UnsupportedOpError naming ``where`` for types Kiln has no tensors of
    (``u1``, ``f8e4m3``, ``nf4``, ``dynamic``, ...).
    """
    from kiln.errors import UnsupportedOpError

    try:
        return ElementType(text.strip())
    except ValueError:
        raise UnsupportedOpError(f"{where}: element type {text!r} is not supported "
                                 f"(supported: {', '.join(e.value for e in ElementType)})") from None
