"""Element types and (possibly dynamic) shapes of IR tensors."""

from __future__ import annotations

import enum

import ml_dtypes
import numpy as np

Dim = int | None
"""One dimension: a non-negative int, or None where it is unknown until reshape()."""

Shape = tuple[Dim, ...]
"""A tensor shape. A dimension of None is dynamic."""


class ElementType(enum.Enum):
    """Tensor element types, named as OpenVINO IR names them."""

    f64 = "f64"
    f32 = "f32"
    f16 = "f16"
    bf16 = "bf16"
    i4 = "i4"
    u4 = "u4"
    i8 = "i8"
    u8 = "u8"
    i16 = "i16"
    u16 = "u16"
    i32 = "i32"
    u32 = "u32"
    i64 = "i64"
    u64 = "u64"
    boolean = "boolean"
    string = "string"

    @property
    def numpy(self) -> np.dtype:
        """Return the numpy dtype that holds this element type."""
        return _TO_NUMPY[self]

    @property
    def is_float(self) -> bool:
        return self in (ElementType.f64, ElementType.f32, ElementType.f16, ElementType.bf16)

    @property
    def is_integer(self) -> bool:
        return not self.is_float and self not in (ElementType.boolean, ElementType.string)

    @property
    def bitwidth(self) -> int:
        if self in (ElementType.i4, ElementType.u4):
            return 4
        if self is ElementType.boolean:
            return 8
        return self.numpy.itemsize * 8

    @classmethod
    def from_numpy(cls, dtype) -> ElementType:
        """Return the element type for a numpy dtype (raises ValueError if none fits)."""
        dtype = np.dtype(dtype)
        if dtype.kind in "USO":
            return cls.string
        for etype, np_dtype in _TO_NUMPY.items():
            if np_dtype == dtype and etype not in (ElementType.i4, ElementType.u4):
                return etype
        raise ValueError(f"numpy dtype {dtype} has no IR element type")


_TO_NUMPY = {
    ElementType.f64: np.dtype(np.float64),
    ElementType.f32: np.dtype(np.float32),
    ElementType.f16: np.dtype(np.float16),
    ElementType.bf16: np.dtype(ml_dtypes.bfloat16),
    ElementType.i4: np.dtype(np.int8),
    ElementType.u4: np.dtype(np.uint8),
    ElementType.i8: np.dtype(np.int8),
    ElementType.u8: np.dtype(np.uint8),
    ElementType.i16: np.dtype(np.int16),
    ElementType.u16: np.dtype(np.uint16),
    ElementType.i32: np.dtype(np.int32),
    ElementType.u32: np.dtype(np.uint32),
    ElementType.i64: np.dtype(np.int64),
    ElementType.u64: np.dtype(np.uint64),
    ElementType.boolean: np.dtype(np.bool_),
    ElementType.string: np.dtype(object),
}


def is_static(shape: Shape | None) -> bool:
    """Return True when the rank and every dimension are known."""
    return shape is not None and all(d is not None for d in shape)


def format_shape(shape: Shape | None) -> str:
    """Return a shape as text, e.g. ``[1,3,?,?]``; ``[...]`` for unknown rank."""
    if shape is None:
        return "[...]"
    return "[" + ",".join("?" if d is None else str(d) for d in shape) + "]"


def broadcast_shapes(a: Shape | None, b: Shape | None) -> Shape | None:
    """Return the numpy-style broadcast of two shapes, keeping dynamic dims dynamic.

    Raises ValueError when two known dimensions are incompatible.
    """
    if a is None or b is None:
        return None
    rank = max(len(a), len(b))
    a = (1,) * (rank - len(a)) + tuple(a)
    b = (1,) * (rank - len(b)) + tuple(b)
    out: list[Dim] = []
    for x, y in zip(a, b):
        if x == 1:
            out.append(y)
        elif y == 1 or x == y:
            out.append(x)
        elif x is None or y is None:
            out.append(x if y is None else y)
        else:
            raise ValueError(f"shapes {format_shape(a)} and {format_shape(b)} do not broadcast")
    return tuple(out)
