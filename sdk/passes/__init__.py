"""Optimizer passes: each a function ``Model -> Model`` in its own module."""

from kiln.passes.pipeline import optimize

__all__ = ["optimize"]
