"""Convolution (im2col + tiled GEMM, 1x1, grouped, depthwise) and pooling on the GPU vs the reference."""

from __future__ import annotations

import numpy as np
import pytest
from gpu_models import check
from kiln.ir import ElementType, Model, constant, make, parameter


def _rand(shape, seed, scale=1.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)


CONVS = [  # (input shape, c_out, groups, kernel, strides, dilations, pads_begin, pads_end, exec_type)
    ((1, 3, 5, 5), 4, 1, 3, [1, 1], [1, 1], [1, 1], [1, 1], "cuda_im2col_gemm"),
    ((2, 2, 7, 6), 3, 1, 3, [2, 1], [1, 2], [0, 2], [1, 0], "cuda_im2col_gemm"),
    ((1, 4, 4, 4), 6, 1, 1, [1, 1], [1, 1], [0, 0], [0, 0], "cuda_gemm_1x1"),
    ((1, 4, 5, 5), 6, 2, 3, [1, 1], [1, 1], [1, 1], [1, 1], "cuda_im2col_gemm"),
    ((3, 4, 4, 3), 6, 2, 3, [1, 2], [1, 1], [1, 0], [1, 1], "cuda_im2col_gemm"),  # batch x groups
    ((2, 4, 3, 3), 4, 2, 1, [1, 1], [1, 1], [0, 0], [0, 0], "cuda_gemm_1x1"),
    ((2, 3, 5, 5), 6, 3, 3, [2, 2], [1, 1], [1, 1], [1, 1], "cuda_depthwise"),   # channel multiplier 2
]


@pytest.mark.parametrize("shape, c_out, groups, k, strides, dilations, pb, pe, exec_type", CONVS)
def test_convolution_with_bias_relu_epilogue_matches_reference(shape, c_out, groups, k, strides, dilations,
                                                               pb, pe, exec_type):
    x = parameter("x", ElementType.f32, shape)
    c_in = shape[1]
    attrs = dict(strides=strides, dilations=dilations, pads_begin=pb, pads_end=pe, name="conv")
    if groups == 1:
        y = make("Convolution", x.output(0), constant(_rand((c_out, c_in, k, k), 1)), **attrs).output(0)
    else:
        w = _rand((groups, c_out // groups, c_in // groups, k, k), 1)
        y = make("GroupConvolution", x.output(0), constant(w), **attrs).output(0)
    y = make("Add", y, constant(_rand((1, c_out, 1, 1), 2)), name="bias").output(0)
    y = make("Relu", y, name="relu").output(0)
    compiled = check(Model([y], [x]), [_rand(shape, 0)], rtol=1e-5, atol=1e-5)
    kernels = [r for r in compiled.executable.describe() if r["operation"] == "kernel"]
    assert [r["exec_type"] for r in kernels] == [exec_type]
    assert kernels[0]["fused_nodes"] == ["conv", "bias", "relu"]


@pytest.mark.parametrize("op, attrs", [
    ("MaxPool", dict(kernel=[3, 3], strides=[2, 2], pads_begin=[1, 1], pads_end=[1, 1])),
    ("MaxPool", dict(kernel=[2, 2], strides=[1, 1], pads_begin=[0, 0], pads_end=[0, 0], dilations=[2, 2])),
    ("MaxPool", dict(kernel=[2, 2], strides=[2, 2], pads_begin=[0, 0], pads_end=[0, 0],
                     rounding_type="ceil")),
    ("AvgPool", dict(kernel=[3, 3], strides=[2, 2], pads_begin=[1, 1], pads_end=[1, 1],
                     **{"exclude-pad": True})),
    ("AvgPool", dict(kernel=[3, 3], strides=[2, 2], pads_begin=[1, 1], pads_end=[1, 1],
                     **{"exclude-pad": False})),
    ("AvgPool", dict(kernel=[2, 2], strides=[2, 2], pads_begin=[0, 0], pads_end=[0, 0],
                     rounding_type="ceil", **{"exclude-pad": False})),
], ids=["max-pad", "max-dilated", "max-ceil", "avg-exclude", "avg-include", "avg-ceil"])
def test_pooling_with_epilogue_matches_reference(op, attrs):
    x = parameter("x", ElementType.f32, (2, 3, 5, 5))
    y = make(op, x.output(0), name="pool", **attrs).outputs[0]
    y = make("Multiply", y, constant(np.array([1.5, -1, 0.5], np.float32).reshape(1, 3, 1, 1)),
             name="scale").output(0)
    compiled = check(Model([y], [x]), [_rand((2, 3, 5, 5), 0)], rtol=1e-5, atol=1e-6)
    kernels = [r for r in compiled.executable.describe() if r["operation"] == "kernel"]
    assert [r["exec_type"] for r in kernels] == [f"cuda_{op.lower()}"]
    assert kernels[0]["fused_nodes"] == ["pool", "scale"]
