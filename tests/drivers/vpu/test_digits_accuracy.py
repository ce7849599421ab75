"""The real accuracy check: the digits CNN, fp32 on CPU vs int8 on the VPU (HETERO)."""

import json
from pathlib import Path

import kiln
import numpy as np
from sklearn.datasets import load_digits

DATA = Path(kiln.__file__).parent / "zoo" / "data"


def test_digits_int8_on_vpu_within_one_point_of_fp32():
    meta = json.loads((DATA / "digits_cnn.json").read_text())
    digits = load_digits()
    images = (digits.images[:, None] * meta["preprocessing"]["input_scale"]).astype(np.float32)
    test = np.array(meta["test_indices"])
    train = np.setdiff1d(np.arange(len(images)), test)
    batch = 120
    model = kiln.convert_model(DATA / "digits_cnn.onnx").reshape({"input": (batch, 1, 8, 8)})
    core = kiln.Core()
    fp32 = core.compile_model(model, "CPU")
    q = kiln.quantize(model, [{"input": images[train[i:i + batch]]} for i in range(0, 4 * batch, batch)])
    int8 = core.compile_model(q, "HETERO:VPU,CPU")
    placement = int8.executable.placement
    assert placement.count("VPU", ("Convolution", "GroupConvolution", "MatMul")) == 4
    right_fp32 = right_int8 = 0
    for start in range(0, len(test), batch):
        idx = test[start:start + batch]
        right_fp32 += int((fp32({"input": images[idx]})[0].argmax(1) == digits.target[idx]).sum())
        right_int8 += int((int8({"input": images[idx]})[0].argmax(1) == digits.target[idx]).sum())
    top1_fp32, top1_int8 = right_fp32 / len(test), right_int8 / len(test)
    assert abs(top1_fp32 - meta["fp32_test_top1"]) < 1e-9
    assert top1_int8 >= top1_fp32 - 0.01
