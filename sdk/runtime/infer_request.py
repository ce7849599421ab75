"""InferRequest: one inference in flight, synchronous or asynchronous."""

from __future__ import annotations

import threading
from collections.abc import Callable

from kiln.runtime.compiled_model import CompiledModel, InferResult


class InferRequest:
    """Runs inferences of one CompiledModel; ``start_async``/``wait`` run it on a worker thread."""

    def __init__(self, compiled: CompiledModel):
        self.compiled = compiled
        self._result: InferResult | None = None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._callback: Callable | None = None
        self._userdata = None

    def infer(self, inputs) -> InferResult:
        """Run synchronously and return the results."""
        self._result = self.compiled.infer(inputs)
        return self._result

    def start_async(self, inputs, userdata=None) -> None:
        """Start an inference and return at once; ``wait()`` for it."""
        self.wait()
        self._error = None
        self._userdata = userdata
        self._thread = threading.Thread(target=self._run, args=(inputs,), daemon=True)
        self._thread.start()

    def _run(self, inputs) -> None:
        try:
            self._result = self.compiled.infer(inputs)
        except BaseException as error:  # re-raised in wait()
            self._error = error
        if self._callback is not None:
            self._callback(self._userdata if self._error is None else self._error)

    def set_callback(self, callback: Callable, userdata=None) -> None:
        """Call ``callback(userdata)`` when an async inference ends (its error, if it failed)."""
        self._callback = callback
        self._userdata = userdata

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the async inference; re-raise its error. Return False on timeout."""
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                return False
            self._thread = None
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        return True

    @property
    def results(self) -> InferResult | None:
        return self._result

    def get_output_tensor(self, index: int = 0):
        return self._result[index] if self._result is not None else None
