"""Discrete Fourier transforms: DFT, IDFT (complex in/out), RDFT (real in), IRDFT (real out).

Complex tensors carry a trailing dim of 2 (real, imaginary). ``axes`` (an input) name the
transformed dims among the non-complex dims; ``signal_size`` (optional input, -1 keeps a
dim) zero-pads or trims each transformed dim first. Forward transforms are unnormalized,
inverse ones scale by 1/n.
"""

from __future__ import annotations

import numpy as np
from kiln.errors import ShapeInferenceError
from kiln.ir.op import Op
from kiln.ir.ops._shape_values import known_ints, normalize_axis


def _error(node, message: str) -> ShapeInferenceError:
    return ShapeInferenceError(f"node {node.name!r} ({node.type_name}): {message}")


class FourierTransform(Op):
    """Base of the DFT family; subclasses set ``complex_input``, ``complex_output``, ``transform``."""

    num_inputs = (2, 3)
    version = "opset7"
    complex_input = True
    complex_output = True

    @classmethod
    def _plan(cls, node, shape, axes, sizes):
        """Return (normalized axes, transform length per axis or None for the input's)."""
        rank = len(shape) - (1 if cls.complex_input else 0)
        axes = [normalize_axis(a, rank, "axis") for a in axes]
        if sizes is None:
            sizes = [-1] * len(axes)
        if len(sizes) != len(axes):
            raise _error(node, f"signal_size {sizes} does not match axes {axes}")
        return axes, [None if s == -1 else s for s in sizes]

    @classmethod
    def infer(cls, node):
        data = node.inputs[0]
        axes = known_ints(node.inputs[1])
        sizes = known_ints(node.inputs[2]) if len(node.inputs) > 2 else None
        if data.shape is None or axes is None or (len(node.inputs) > 2 and sizes is None):
            return [(data.element_type, None)]
        axes, lengths = cls._plan(node, data.shape, axes, sizes)
        base = list(data.shape[:-1] if cls.complex_input else data.shape)
        for a, n in zip(axes, lengths):
            base[a] = cls.output_length(a == axes[-1], base[a] if n is None else n)
        return [(data.element_type, tuple(base) + ((2,) if cls.complex_output else ()))]

    @classmethod
    def output_length(cls, last: bool, n):
        return n

    @classmethod
    def evaluate(cls, node, inputs):
        data = inputs[0]
        axes = [int(a) for a in inputs[1].reshape(-1)]
        sizes = [int(s) for s in inputs[2].reshape(-1)] if len(inputs) > 2 else None
        axes, lengths = cls._plan(node, data.shape, axes, sizes)
        x = data[..., 0] + 1j * data[..., 1] if cls.complex_input else data
        out = cls.transform(x.astype(np.complex128 if cls.complex_input else np.float64), axes, lengths)
        if cls.complex_output:
            out = np.stack([out.real, out.imag], axis=-1)
        return [np.ascontiguousarray(out).astype(data.dtype)]


class DFT(FourierTransform):
    type_name = "DFT"

    @staticmethod
    def transform(x, axes, lengths):
        for a, n in zip(axes, lengths):
            x = np.fft.fft(x, n=n, axis=a)
        return x


class IDFT(FourierTransform):
    type_name = "IDFT"

    @staticmethod
    def transform(x, axes, lengths):
        for a, n in zip(axes, lengths):
            x = np.fft.ifft(x, n=n, axis=a)
        return x


class RDFT(FourierTransform):
    """Real-input DFT keeping the non-redundant half (n // 2 + 1) of the last transformed axis."""

    type_name = "RDFT"
    version = "opset9"
    complex_input = False

    @classmethod
    def output_length(cls, last, n):
        return None if n is None else (n // 2 + 1 if last else n)

    @staticmethod
    def transform(x, axes, lengths):
        out = np.fft.rfft(x, n=lengths[-1], axis=axes[-1])
        for a, n in zip(axes[:-1], lengths[:-1]):
            out = np.fft.fft(out, n=n, axis=a)
        return out


class IRDFT(FourierTransform):
    """Inverse of RDFT: the last transformed axis holds n // 2 + 1 values of an n-point
    real signal (n = 2 * (size - 1) unless signal_size gives it)."""

    type_name = "IRDFT"
    version = "opset9"
    complex_output = False

    @classmethod
    def infer(cls, node):
        data = node.inputs[0]
        sizes = known_ints(node.inputs[2]) if len(node.inputs) > 2 else None
        axes = known_ints(node.inputs[1])
        if data.shape is None or axes is None or (len(node.inputs) > 2 and sizes is None):
            return [(data.element_type, None)]
        axes, lengths = cls._plan(node, data.shape, axes, sizes)
        base = list(data.shape[:-1])
        for a, n in zip(axes[:-1], lengths[:-1]):
            base[a] = base[a] if n is None else n
        last = axes[-1]
        base[last] = lengths[-1] if lengths[-1] is not None else (
            None if base[last] is None else 2 * (base[last] - 1))
        return [(data.element_type, tuple(base))]

    @staticmethod
    def transform(x, axes, lengths):
        for a, n in zip(axes[:-1], lengths[:-1]):
            x = np.fft.ifft(x, n=n, axis=a)
        return np.fft.irfft(x, n=lengths[-1], axis=axes[-1])
