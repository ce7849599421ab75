"""The default optimization pipeline."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from kiln.ir import Model
from kiln.passes.eliminate_dead_nodes import eliminate_dead_nodes
from kiln.passes.fold_batch_norm import fold_batch_norm
from kiln.passes.fold_constants import fold_constants
from kiln.passes.fuse_bias_activation import fuse_bias_activation
from kiln.passes.fuse_gelu import fuse_gelu
from kiln.passes.simplify_reshapes import simplify_reshapes
from kiln.passes.simplify_transposes import simplify_transposes

Pass = Callable[[Model], Model]

DEFAULT_PASSES: list[Pass] = [
    fold_constants,          # weights decompression, bias reshapes, shape subgraphs
    eliminate_dead_nodes,
    simplify_transposes,
    simplify_reshapes,
    eliminate_dead_nodes,    # reshapes that became no-ops
    fold_batch_norm,
    fold_constants,          # anything the rewrites left constant
    fuse_gelu,               # erf-formula GELU -> Gelu, so it can join a MatMul group
    fuse_bias_activation,    # last: marks groups the CPU/VPU compilers consume
]
"""Passes ``optimize`` runs, in order; each rewrites the model it is given and returns it."""


def optimize(model: Model, passes: Sequence[Pass] | None = None) -> Model:
    """Return an optimized copy of ``model``; the input model is left unchanged."""
    model = model.clone()
    for run in DEFAULT_PASSES if passes is None else passes:
        model = run(model)
    return model
