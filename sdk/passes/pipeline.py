"""The default optimization pipeline."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from kiln.ir import Model

Pass = Callable[[Model], Model]

DEFAULT_PASSES: list[Pass] = []


def optimize(model: Model, passes: Sequence[Pass] | None = None) -> Model:
    """Return an optimized copy of ``model``; the input model is left unchanged."""
    model = model.clone()
    for run in DEFAULT_PASSES if passes is None else passes:
        model = run(model)
    return model
