"""The op contract: attributes, shape/type inference and a numpy reference.

Every IR op is one subclass of :class:`Op` in a small module under ``kiln.ir.ops``;
subclassing registers it, so adding an op never means editing a central switch.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import importlib
import pkgutil
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from kiln.errors import ShapeInferenceError, UnsupportedOpError
from kiln.ir.types import ElementType, Shape

if TYPE_CHECKING:
    from kiln.ir.graph import Node


class AttrKind(enum.Enum):
    """How an attribute is typed, and so how it is written to IR XML."""

    INT = "int"
    INTS = "ints"
    FLOAT = "float"
    FLOATS = "floats"
    STR = "str"
    STRS = "strs"
    BOOL = "bool"
    ETYPE = "element_type"
    SHAPE = "shape"


REQUIRED = object()
"""Default of an attribute that has none and must be given."""


@dataclasses.dataclass(frozen=True)
class Attr:
    """One attribute of an op: its kind and its default (or REQUIRED)."""

    kind: AttrKind
    default: Any = REQUIRED


OPS: dict[str, type[Op]] = {}
"""Every registered op by its OpenVINO type name."""


class Op:
    """Base of all IR ops. Subclasses set ``type_name`` and override ``infer``/``evaluate``.

    ``version`` is the OpenVINO opset the op's semantics follow (written to IR XML);
    ``versions`` lists every opset version the IR reader accepts for this type.
    """

    type_name: ClassVar[str] = ""
    version: ClassVar[str] = "opset1"
    versions: ClassVar[tuple[str, ...]] = ()
    attributes: ClassVar[dict[str, Attr]] = {}
    num_inputs: ClassVar[tuple[int, int]] = (0, 1 << 30)
    """Inclusive (min, max) number of inputs."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.type_name:
            OPS[cls.type_name] = cls

    @classmethod
    def infer(cls, node: Node) -> list[tuple[ElementType, Shape | None]]:
        """Return (element type, shape) of each output; default: evaluate on placeholders.

        The default runs ``evaluate`` on zero-filled inputs (constants keep their
        values) when every input shape is static; heavy ops override it.
        """
        return infer_by_evaluation(node)

    @classmethod
    def evaluate(cls, node: Node, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """Compute the outputs with numpy: the reference every faster kernel is checked by."""
        raise NotImplementedError(f"{cls.type_name} has no reference implementation")


def lookup(type_name: str) -> type[Op]:
    """Return the op class for a type name, or raise UnsupportedOpError."""
    _load_all()
    try:
        return OPS[type_name]
    except KeyError:
        raise UnsupportedOpError(f"unknown IR op type {type_name!r}") from None


@functools.cache
def register_package(name: str) -> None:
    """Import every module of package ``name`` once, so that what each defines registers itself."""
    package = importlib.import_module(name)
    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{name}.{info.name}")


def _load_all() -> None:
    register_package("kiln.ir.ops")


def infer_by_evaluation(node: Node) -> list[tuple[ElementType, Shape | None]]:
    """Infer output types by running the reference on placeholder inputs.

    Inputs produced by a Constant keep their values (so shape-like inputs work);
    others become zeros. When some input shape is not static, the outputs get an
    unknown shape but the element types are still found on a shrunken example.
    """
    from kiln.ir.types import is_static

    values = []
    static = True
    for port in node.inputs:
        const = port.constant_value()
        if const is not None:
            values.append(const)
            continue
        shape = port.shape
        if not is_static(shape):
            static = False
            shape = tuple(1 if d is None else d for d in (shape or ()))
        values.append(np.zeros(shape, dtype=port.element_type.numpy))
    try:
        with np.errstate(all="ignore"):
            outputs = node.op.evaluate(node, values)
    except ShapeInferenceError:
        raise
    except Exception as error:  # the reference rejected the inputs: a shape error
        raise ShapeInferenceError(
            f"node {node.name!r} ({node.type_name}): cannot infer outputs from inputs "
            f"{node.describe_inputs()}: {error}"
        ) from error
    result = []
    for out in outputs:
        out = np.asarray(out)
        shape = tuple(int(d) for d in out.shape) if static else None
        result.append((ElementType.from_numpy(out.dtype), shape))
    return result
