"""Train the digits CNN on scikit-learn's handwritten digits and export it to ONNX.

The dataset ships with scikit-learn (1,797 8x8 grey images, pixel values 0..16), so
nothing is downloaded. The network is trained with plain numpy (im2col convolutions,
hand-written backward pass, Adam) on a fixed seeded split, then written to
``sdk/zoo/data/digits_cnn.onnx`` together with ``digits_cnn.json`` (held-out indices,
preprocessing, fp32 held-out top-1 accuracy measured with onnx's reference runtime).

Run: ``.venv/bin/python benchmarks/train_digits.py`` (about 20 s on one core).

Network (NCHW, input ``[N, 1, 8, 8]`` = pixels / 16):
conv3x3 1->8 (pad 1) + ReLU, conv3x3 8->16 (pad 1, stride 1) + ReLU, depthwise conv3x3
16 (pad 1) + ReLU with a residual add, maxpool 2x2 -> 16x4x4, flatten, fc 256->10 (logits).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from tqdm import tqdm

OUT_DIR = Path(__file__).resolve().parent.parent / "sdk" / "zoo" / "data"
SEED = 0
TEST_FRACTION = 0.2
INPUT_SCALE = 1.0 / 16.0


def im2col(x: np.ndarray, k: int, pad: int) -> np.ndarray:
    """Return ``[N, H, W, C*k*k]`` patches of ``x`` ``[N, C, H, W]`` (stride 1, zero padding)."""
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    cols = np.empty((n, c, k, k, h, w), x.dtype)
    for i in range(k):
        for j in range(k):
            cols[:, :, i, j] = xp[:, :, i:i + h, j:j + w]
    return cols.transpose(0, 4, 5, 1, 2, 3).reshape(n, h, w, c * k * k)


def col2im(cols: np.ndarray, shape: tuple[int, ...], k: int, pad: int) -> np.ndarray:
    """Scatter-add patch gradients ``[N, H, W, C*k*k]`` back to an input gradient of ``shape``."""
    n, c, h, w = shape
    cols = cols.reshape(n, h, w, c, k, k).transpose(0, 3, 4, 5, 1, 2)
    xp = np.zeros((n, c, h + 2 * pad, w + 2 * pad), cols.dtype)
    for i in range(k):
        for j in range(k):
            xp[:, :, i:i + h, j:j + w] += cols[:, :, i, j]
    return xp[:, :, pad:pad + h, pad:pad + w]


class DigitsCNN:
    """The network's parameters, forward pass (with a cache) and backward pass."""

    def __init__(self, rng: np.random.Generator):
        def he(shape, fan_in):
            return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)

        self.params = {
            "conv1.w": he((8, 1, 3, 3), 9), "conv1.b": np.zeros(8, np.float32),
            "conv2.w": he((16, 8, 3, 3), 72), "conv2.b": np.zeros(16, np.float32),
            "dw.w": he((16, 1, 3, 3), 9) * 0.5, "dw.b": np.zeros(16, np.float32),
            "fc.w": he((10, 256), 256), "fc.b": np.zeros(10, np.float32),
        }

    def forward(self, x: np.ndarray):
        p = self.params
        n = x.shape[0]
        c1 = im2col(x, 3, 1)
        a1 = np.maximum(c1 @ p["conv1.w"].reshape(8, -1).T + p["conv1.b"], 0).transpose(0, 3, 1, 2)
        c2 = im2col(a1, 3, 1)
        a2 = np.maximum(c2 @ p["conv2.w"].reshape(16, -1).T + p["conv2.b"], 0).transpose(0, 3, 1, 2)
        c3 = im2col(a2, 3, 1).reshape(n, 8, 8, 16, 9)
        z3 = np.einsum("nhwck,ck->nchw", c3, p["dw.w"].reshape(16, 9)) + p["dw.b"][:, None, None]
        a3 = np.maximum(z3, 0) + a2
        blocks = a3.reshape(n, 16, 4, 2, 4, 2).transpose(0, 1, 2, 4, 3, 5).reshape(n, 16, 4, 4, 4)
        arg = blocks.argmax(-1)
        pooled = blocks.max(-1)
        flat = pooled.reshape(n, 256)
        logits = flat @ p["fc.w"].T + p["fc.b"]
        cache = (x, c1, a1, c2, a2, c3, z3, arg, flat)
        return logits, cache

    def backward(self, dlogits: np.ndarray, cache) -> dict[str, np.ndarray]:
        p = self.params
        x, c1, a1, c2, a2, c3, z3, arg, flat = cache
        n = x.shape[0]
        g = {"fc.w": dlogits.T @ flat, "fc.b": dlogits.sum(0)}
        dpooled = (dlogits @ p["fc.w"]).reshape(n, 16, 4, 4)
        dblocks = np.zeros((n, 16, 4, 4, 4), np.float32)
        np.put_along_axis(dblocks, arg[..., None], dpooled[..., None], axis=-1)
        da3 = dblocks.reshape(n, 16, 4, 4, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(n, 16, 8, 8)
        dz3 = da3 * (z3 > 0)
        g["dw.w"] = np.einsum("nchw,nhwck->ck", dz3, c3).reshape(16, 1, 3, 3)
        g["dw.b"] = dz3.sum((0, 2, 3))
        dc3 = np.einsum("nchw,ck->nhwck", dz3, p["dw.w"].reshape(16, 9)).reshape(n, 8, 8, 144)
        da2 = da3 + col2im(dc3, a2.shape, 3, 1)
        dz2 = (da2 * (a2 > 0)).transpose(0, 2, 3, 1)
        g["conv2.w"] = np.einsum("nhwo,nhwi->oi", dz2, c2).reshape(16, 8, 3, 3)
        g["conv2.b"] = dz2.sum((0, 1, 2))
        da1 = col2im(dz2 @ p["conv2.w"].reshape(16, -1), a1.shape, 3, 1)
        dz1 = (da1 * (a1 > 0)).transpose(0, 2, 3, 1)
        g["conv1.w"] = np.einsum("nhwo,nhwi->oi", dz1, c1).reshape(8, 1, 3, 3)
        g["conv1.b"] = dz1.sum((0, 1, 2))
        return g


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Return the mean loss and its gradient with respect to ``logits``."""
    shifted = logits - logits.max(1, keepdims=True)
    prob = np.exp(shifted)
    prob /= prob.sum(1, keepdims=True)
    n = len(labels)
    loss = float(-np.log(prob[np.arange(n), labels] + 1e-12).mean())
    prob[np.arange(n), labels] -= 1
    return loss, (prob / n).astype(np.float32)


def load_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return (x_train, y_train, x_test, y_test, test_indices); x is ``[N,1,8,8]`` f32 / 16."""
    digits = load_digits()
    index = np.arange(len(digits.target))
    train_idx, test_idx = train_test_split(index, test_size=TEST_FRACTION, random_state=SEED,
                                           stratify=digits.target)
    x = (digits.images.astype(np.float32) * INPUT_SCALE)[:, None]
    y = digits.target.astype(np.int64)
    return x[train_idx], y[train_idx], x[test_idx], y[test_idx], np.sort(test_idx)


def train(epochs: int, batch: int, lr: float) -> DigitsCNN:
    """Train with Adam on the training split; return the network."""
    x_train, y_train, _, _, _ = load_split()
    rng = np.random.default_rng(SEED)
    net = DigitsCNN(rng)
    m = {k: np.zeros_like(v) for k, v in net.params.items()}
    v = {k: np.zeros_like(v) for k, v in net.params.items()}
    step = 0
    for epoch in (bar := tqdm(range(epochs), desc="train digits CNN")):
        order = rng.permutation(len(y_train))
        losses = []
        for start in range(0, len(order), batch):
            sel = order[start:start + batch]
            logits, cache = net.forward(x_train[sel])
            loss, dlogits = softmax_cross_entropy(logits, y_train[sel])
            grads = net.backward(dlogits, cache)
            step += 1
            rate = lr * (0.5 * (1 + np.cos(np.pi * epoch / epochs)))
            for k, grad in grads.items():
                m[k] = 0.9 * m[k] + 0.1 * grad
                v[k] = 0.999 * v[k] + 0.001 * grad * grad
                mhat = m[k] / (1 - 0.9 ** step)
                vhat = v[k] / (1 - 0.999 ** step)
                net.params[k] -= (rate * mhat / (np.sqrt(vhat) + 1e-8)).astype(np.float32)
            losses.append(loss)
        bar.set_postfix(loss=f"{np.mean(losses):.4f}")
    return net


def export(net: DigitsCNN) -> onnx.ModelProto:
    """Return the network as an opset-13 ONNX model with a dynamic batch dimension."""
    p = net.params
    inits = [numpy_helper.from_array(val.astype(np.float32), name) for name, val in p.items()]
    inits.append(numpy_helper.from_array(np.array([-1, 256], np.int64), "flat_shape"))
    nodes = [
        helper.make_node("Conv", ["input", "conv1.w", "conv1.b"], ["c1"], name="conv1",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "conv2.w", "conv2.b"], ["c2"], name="conv2",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("Conv", ["r2", "dw.w", "dw.b"], ["c3"], name="dwconv",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=16),
        helper.make_node("Relu", ["c3"], ["r3"], name="relu3"),
        helper.make_node("Add", ["r3", "r2"], ["res"], name="residual"),
        helper.make_node("MaxPool", ["res"], ["pool"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Reshape", ["pool", "flat_shape"], ["flat"], name="flatten"),
        helper.make_node("Gemm", ["flat", "fc.w", "fc.b"], ["logits"], name="fc", transB=1),
    ]
    graph = helper.make_graph(
        nodes, "digits_cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="kiln benchmarks/train_digits.py")
    onnx.checker.check_model(model, full_check=True)
    return model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--out-dir", type=Path, default=OUT_DIR)
    args = parser.parse_args(argv)
    net = train(args.epochs, args.batch, args.lr)
    model = export(net)
    _, _, x_test, y_test, test_idx = load_split()
    logits, _ = net.forward(x_test)
    numpy_acc = float((logits.argmax(1) == y_test).mean())
    from onnx.reference import ReferenceEvaluator  # oracle for the exported file, not the trainer

    onnx_logits = ReferenceEvaluator(model).run(None, {"input": x_test})[0]
    onnx_acc = float((onnx_logits.argmax(1) == y_test).mean())
    args.out_dir.mkdir(parents=True, exist_ok=True)
    onnx.save(model, args.out_dir / "digits_cnn.onnx")
    meta = {
        "dataset": "sklearn.datasets.load_digits",
        "split": {"method": "sklearn.model_selection.train_test_split", "test_size": TEST_FRACTION,
                  "random_state": SEED, "stratify": "target"},
        "preprocessing": {"input": "images[:, None] * input_scale, float32 [N,1,8,8]",
                          "input_scale": INPUT_SCALE},
        "test_indices": test_idx.tolist(),
        "fp32_test_top1": onnx_acc,
        "training": {"epochs": args.epochs, "batch": args.batch, "lr": args.lr, "optimizer": "adam",
                     "seed": SEED},
    }
    (args.out_dir / "digits_cnn.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"held-out top-1: numpy {numpy_acc:.4f}, onnx reference {onnx_acc:.4f} "
          f"({len(y_test)} images) -> {args.out_dir / 'digits_cnn.onnx'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
