"""Store f32 weights as f16 in IR files, decompressed by a ``Convert`` as OpenVINO does."""

from __future__ import annotations

import numpy as np
from kiln.ir import ElementType, Model, Node, Output

F16_MAX = float(np.finfo(np.float16).max)


def compress_weights_to_fp16(model: Model) -> Model:
    """Return a copy of ``model`` whose f32 Constants are f16 Constants + ``Convert`` to f32.

    A constant keeps f32 when it is empty or holds a finite value beyond the f16
    range (65504), which f16 would turn into infinity. The ``Convert`` takes the
    constant's name, tensor names and rt_info ``decompression`` (so OpenVINO folds it
    back into an f16 weight); the f16 Constant is named ``<name>_compressed``.
    """
    model = model.clone()
    replacements: dict[Output, Output] = {}
    for node in model.ordered_nodes():
        node.inputs = [replacements.get(port, port) for port in node.inputs]
        if node.type_name != "Constant" or node.output_types[0][0] is not ElementType.f32:
            continue
        value = np.asarray(node.attrs["value"])
        finite = value[np.isfinite(value)]
        if value.size == 0 or (finite.size and float(np.abs(finite).max()) > F16_MAX):
            continue
        half = Node("Constant", [], {"value": value.astype(np.float16)}, name=f"{node.name}_compressed")
        convert = Node("Convert", [half.output(0)], {"destination_type": ElementType.f32}, name=node.name)
        convert.output_names[0] = set(node.output_names[0])
        convert.rt_info = {**node.rt_info, "decompression": ""}
        replacements[node.output(0)] = convert.output(0)
    return model
