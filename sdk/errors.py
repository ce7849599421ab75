"""Errors Kiln raises for bad input: each names the file, node, op, field or input at fault."""


class KilnError(Exception):
    """Base class of every error Kiln raises on purpose."""


class ModelFormatError(KilnError):
    """A model file is malformed, truncated or of an unknown format."""


class UnsupportedOpError(KilnError):
    """An op, op version or attribute value that Kiln does not implement."""


class ShapeInferenceError(KilnError):
    """A node whose output shape or element type cannot be inferred."""


class InferenceInputError(KilnError):
    """Inputs given at inference that do not match the model (name, shape, type)."""


class DeviceError(KilnError):
    """A device that is not available or cannot run what was asked of it."""


class CompileError(KilnError):
    """A model that a device's compiler cannot lower."""
