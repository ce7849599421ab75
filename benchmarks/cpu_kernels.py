"""Time Kiln's CPU kernels alone on the shapes docs/cpu.md and docs/benchmarks.md quote.

    .venv/bin/python benchmarks/cpu_kernels.py            # 1 and 2 threads, median of 200 calls

Each kernel runs on random f32 data through the same call the CPU executable makes;
the output is checked against a numpy computation of the same thing before timing.
"""

from __future__ import annotations

import argparse
import functools
import time

import numba
import numpy as np
from kiln.drivers.cpu.convolution import (
    _NO_PHASES,
    ConvGeometry,
    depthwise3x3,
    depthwise3x3_stride1,
    split_columns,
    tap_offsets,
    unfold,
    unfold_small,
)
from kiln.drivers.cpu.normalization import softmax_rows
from kiln.drivers.cpu.pooling import max_pool


def _median_us(call, reps: int) -> float:
    call()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e6


def _patches(x: np.ndarray, k: int, stride: int, pad: int, out: int) -> np.ndarray:
    """The unfolded matrix [C*k*k, out*out] by numpy slicing (the reference)."""
    padded = np.pad(x, ((0, 0), (pad, pad + k), (pad, pad + k)))
    span = stride * out
    taps = [padded[:, i:i + span:stride, j:j + span:stride] for i in range(k) for j in range(k)]
    return np.stack(taps, 1).reshape(x.shape[0] * k * k, out * out)


def _depthwise_reference(x, w, bias, stride, pad, out):
    padded = np.pad(x[0], ((0, 0), (pad, pad + 3), (pad, pad + 3)))
    acc = np.zeros((x.shape[1], out, out), np.float32)
    for i in range(3):
        for j in range(3):
            acc += w[:, i, j, None, None] * padded[:, i:i + stride * out:stride, j:j + stride * out:stride]
    return np.clip(acc + bias[:, None, None], 0, 6)[None]


def _depthwise_case(rng, channels: int, side: int, stride: int):
    x = rng.random((1, channels, side, side), np.float32)
    w = rng.random((channels, 3, 3), np.float32)
    bias = rng.random(channels).astype(np.float32)
    out_side = (side + 2 - 3) // stride + 1
    out = np.empty((1, channels, out_side, out_side), np.float32)

    def call(threads):
        if stride == 1:
            depthwise3x3_stride1(x, w, 1, 1, bias, True, 0.0, 6.0, threads, out)
        else:
            depthwise3x3(x, w, stride, 1, 1, bias, True, 0.0, 6.0, threads, out)

    def check():
        return np.allclose(out, _depthwise_reference(x, w, bias, stride, 1, out_side), atol=1e-4)
    return f"depthwise 3x3/{stride} + ReLU6, {channels}x{side}x{side}", call, check


def cases(rng):
    """Yield (name, call(threads), check()) for each quoted kernel shape."""
    x = rng.random((1, 96, 109, 109), np.float32)
    pooled = np.empty((1, 96, 54, 54), np.float32)
    yield ("max pool 3x3/2, 96x109x109", lambda t: max_pool(x, 3, 3, 2, 2, 1, 1, 0, 0, t, pooled),
           lambda: np.array_equal(pooled[0, :, 1, 1], x[0, :, 2:5, 2:5].max(axis=(1, 2))))
    stem = rng.random((3, 224, 224), np.float32)
    phases = np.empty((3, 2, 224, 112), np.float32)
    cols = np.empty((147, 112 * 112), np.float32)

    def stem_unfold(t):
        split_columns(stem, phases)
        unfold(stem, 7, 7, 2, 2, 1, 1, 3, 3, 112, 112, phases, cols)
    yield ("unfold 7x7/2 stem, 3x224x224 (even/odd planes)", stem_unfold,
           lambda: np.array_equal(cols, _patches(stem, 7, 2, 3, 112)))
    small = rng.random((512, 7, 7), np.float32)
    taps = tap_offsets(ConvGeometry(1, 512, 512, 3, 3, 1, 1, 1, 1, 1, 1, 7, 7), 7, 7)
    small_cols = np.empty((512 * 9, 49), np.float32)
    yield ("unfold 3x3 by tap offsets, 512x7x7", lambda t: unfold_small(small, taps, small_cols),
           lambda: np.array_equal(small_cols, _patches(small, 3, 1, 1, 7)))
    strided = np.empty_like(small_cols)
    yield ("unfold 3x3 by rows, 512x7x7 (for comparison)",
           lambda t: unfold(small, 3, 3, 1, 1, 1, 1, 1, 1, 7, 7, _NO_PHASES, strided),
           lambda: np.array_equal(strided, small_cols))
    for channels, side, stride in ((192, 56, 1), (240, 56, 2)):
        yield _depthwise_case(rng, channels, side, stride)
    logits = rng.random((1536, 128), np.float32)
    probabilities = np.empty_like(logits)
    expected = np.exp(logits - logits.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    yield ("softmax, 1536 rows of 128", lambda t: softmax_rows(logits, t, probabilities),
           lambda: np.allclose(probabilities, expected, rtol=1e-5, atol=1e-7))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=200)
    args = parser.parse_args(argv)
    threads = sorted({1, numba.config.NUMBA_NUM_THREADS})
    print(f"{'kernel':52s}" + "".join(f"{f'{t} thread(s)':>14s}" for t in threads))
    for name, call, check in cases(np.random.default_rng(0)):
        row = []
        for t in threads:
            numba.set_num_threads(t)
            row.append(_median_us(functools.partial(call, t), args.reps))
            if not check():
                raise SystemExit(f"{name}: result differs from numpy")
        print(f"{name:52s}" + "".join(f"{us:11.1f} us" for us in row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
