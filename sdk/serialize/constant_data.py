"""Constant tensors as bytes in the ``.bin`` file, laid out as OpenVINO lays them out.

Numbers are little-endian and packed C-order; ``i4``/``u4`` hold two elements a byte
(low nibble first); ``boolean`` is one byte an element; a ``string`` tensor is an i32
count, ``count + 1`` i32 end offsets into the character block (the first is 0), then
the UTF-8 characters of every element back to back.
"""

from __future__ import annotations

import math

import numpy as np
from kiln.errors import ModelFormatError
from kiln.ir import ElementType


def encode_constant(value: np.ndarray, etype: ElementType) -> bytes:
    """Return the ``.bin`` bytes of constant ``value`` of element type ``etype``."""
    if etype is ElementType.string:
        items = [str(s).encode() for s in np.asarray(value, dtype=object).ravel()]
        ends = np.cumsum([0] + [len(s) for s in items], dtype=np.int64)
        if ends[-1] >= 2**31:
            raise ModelFormatError("a string constant of 2 GiB or more cannot be written to IR")
        header = np.array([len(items), *ends], dtype="<i4").tobytes()
        return header + b"".join(items)
    array = np.ascontiguousarray(value, dtype=etype.numpy)
    if etype in (ElementType.i4, ElementType.u4):
        nibbles = (array.ravel().astype(np.uint8) & 0x0F)
        if nibbles.size % 2:
            nibbles = np.append(nibbles, np.uint8(0))
        return (nibbles[0::2] | (nibbles[1::2] << 4)).astype(np.uint8).tobytes()
    return array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()


def constant_size(shape: tuple[int, ...], etype: ElementType) -> int | None:
    """Return the byte size a constant must have, or None for strings (size varies)."""
    count = math.prod(shape)
    if etype is ElementType.string:
        return None
    if etype in (ElementType.i4, ElementType.u4):
        return (count + 1) // 2
    return count * etype.numpy.itemsize


def decode_constant(blob: bytes, shape: tuple[int, ...], etype: ElementType, where: str) -> np.ndarray:
    """Return the array stored in ``blob``; raise ModelFormatError naming ``where`` if it is malformed."""
    count = math.prod(shape)
    if etype is ElementType.string:
        return _decode_strings(blob, shape, count, where)
    expected = constant_size(shape, etype)
    if len(blob) < expected:
        raise ModelFormatError(f"{where}: {etype.value}{list(shape)} needs {expected} bytes, "
                               f"the data holds {len(blob)}")
    if etype in (ElementType.i4, ElementType.u4):
        packed = np.frombuffer(blob, dtype=np.uint8, count=expected)
        nibbles = np.empty(packed.size * 2, dtype=np.uint8)
        nibbles[0::2] = packed & 0x0F
        nibbles[1::2] = packed >> 4
        values = nibbles[:count]
        if etype is ElementType.i4:
            values = ((values.astype(np.int8) << 4) >> 4).astype(np.int8)
        return values.reshape(shape)
    dtype = etype.numpy.newbyteorder("<") if etype.numpy.itemsize > 1 else etype.numpy
    array = np.frombuffer(blob, dtype=dtype, count=count).astype(etype.numpy)
    return array.reshape(shape)


def _decode_strings(blob: bytes, shape, count: int, where: str) -> np.ndarray:
    if len(blob) < 4 * (count + 2):
        raise ModelFormatError(f"{where}: string tensor of {count} elements needs a {4 * (count + 2)}-byte "
                               f"header, the data holds {len(blob)} bytes")
    stored = int(np.frombuffer(blob, dtype="<i4", count=1)[0])
    if stored != count:
        raise ModelFormatError(f"{where}: string tensor of shape {list(shape)} stores {stored} elements")
    ends = np.frombuffer(blob, dtype="<i4", count=count + 1, offset=4).astype(np.int64)
    chars = blob[4 * (count + 2):]
    if ends[0] != 0 or np.any(np.diff(ends) < 0) or ends[-1] > len(chars):
        raise ModelFormatError(f"{where}: string tensor offsets are out of order or beyond its data")
    try:
        items = [chars[ends[i]:ends[i + 1]].decode() for i in range(count)]
    except UnicodeDecodeError as error:
        raise ModelFormatError(f"{where}: string element is not UTF-8: {error}") from None
    array = np.empty(count, dtype=object)
    array[:] = items
    return array.reshape(shape)
