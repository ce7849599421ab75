"""Run a Model with the numpy reference of each op: the oracle for every device."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from kiln.errors import InferenceInputError, KilnError
from kiln.ir.graph import Model, Node, Output


def evaluate(model: Model, inputs: Mapping[str, np.ndarray] | Sequence[np.ndarray],
             outputs: Sequence[Output] | None = None) -> list[np.ndarray]:
    """Return the values of ``outputs`` (default: the model's outputs) for ``inputs``.

    ``inputs`` maps input names (or positions) to arrays, or lists them in order.
    Values are freed as soon as no later node reads them.
    """
    feeds = bind_inputs(model, inputs)
    wanted = list(outputs) if outputs is not None else model.outputs
    order = model.ordered_nodes()
    last_use: dict[Output, int] = {}
    for step, node in enumerate(order):
        for port in node.inputs:
            last_use[port] = step
    for port in wanted:
        last_use[port] = len(order)
    values: dict[Output, np.ndarray] = {}
    for step, node in enumerate(order):
        if node.type_name == "Parameter":
            values[node.output(0)] = feeds[node.name]
            continue
        args = [values[port] for port in node.inputs]
        results = run_node(node, args)
        for index, value in enumerate(results):
            port = Output(node, index)
            if port in last_use:
                values[port] = value
        for port in node.inputs:
            if last_use.get(port) == step:
                values.pop(port, None)
    return [values[port] for port in wanted]


def run_node(node: Node, args: list[np.ndarray]) -> list[np.ndarray]:
    """Run one node's reference, turning numpy failures into an error naming the node."""
    try:
        with np.errstate(all="ignore"):
            return [np.asarray(v) for v in node.evaluate(args)]
    except KilnError:
        raise
    except Exception as error:
        shapes = ", ".join(f"{a.dtype}{list(a.shape)}" for a in args)
        raise KilnError(f"node {node.name!r} ({node.type_name}) failed on inputs {shapes}: "
                        f"{type(error).__name__}: {error}") from error


def bind_inputs(model: Model, inputs) -> dict[str, np.ndarray]:
    """Match user inputs to the model's Parameters; check element type and shape.

    Returns arrays keyed by Parameter name, converted to the declared element type
    when the conversion is safe (same kind), else raises InferenceInputError.
    """
    if isinstance(inputs, np.ndarray):
        inputs = [inputs]
    if isinstance(inputs, Mapping):
        items = {model.parameters[model.input_index(k)].name: v for k, v in inputs.items()}
    else:
        inputs = list(inputs)
        if len(inputs) != len(model.parameters):
            raise InferenceInputError(
                f"model {model.name!r} takes {len(model.parameters)} inputs {model.input_names}, "
                f"got {len(inputs)}")
        items = {p.name: v for p, v in zip(model.parameters, inputs)}
    missing = [p.name for p in model.parameters if p.name not in items]
    if missing:
        raise InferenceInputError(f"model {model.name!r}: no value given for input(s) {missing}")
    feeds = {}
    for param in model.parameters:
        value = np.asarray(items[param.name])
        etype, shape = param.attrs["element_type"], param.attrs["shape"]
        if value.dtype != etype.numpy:
            if value.dtype.kind != etype.numpy.kind and not (
                    value.dtype.kind in "iu" and etype.numpy.kind in "iu"):
                raise InferenceInputError(
                    f"input {param.name!r}: expected {etype.value}, got {value.dtype}")
            value = value.astype(etype.numpy)
        if shape is not None:
            if value.ndim != len(shape) or any(d is not None and d != s for d, s in zip(shape, value.shape)):
                raise InferenceInputError(
                    f"input {param.name!r}: expected shape {[('?' if d is None else d) for d in shape]}, "
                    f"got {list(value.shape)}")
        feeds[param.name] = value
    return feeds
