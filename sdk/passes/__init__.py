"""Optimizer passes: each a function ``Model -> Model`` in its own module.

A pass rewrites the model it is given in place and returns it; ``optimize`` runs
``DEFAULT_PASSES`` on a copy, so ``kiln.optimize(model)`` never changes ``model``.
"""

from kiln.passes.eliminate_dead_nodes import eliminate_dead_nodes
from kiln.passes.fold_batch_norm import fold_batch_norm
from kiln.passes.fold_constants import fold_constants
from kiln.passes.fuse_bias_activation import fuse_bias_activation
from kiln.passes.fuse_gelu import fuse_gelu
from kiln.passes.pipeline import DEFAULT_PASSES, optimize
from kiln.passes.simplify_reshapes import simplify_reshapes
from kiln.passes.simplify_transposes import simplify_transposes

__all__ = [
    "DEFAULT_PASSES", "eliminate_dead_nodes", "fold_batch_norm", "fold_constants", "fuse_bias_activation",
    "fuse_gelu", "optimize", "simplify_reshapes", "simplify_transposes",
]
