"""InferRequest: one inference in flight, synchronous or asynchronous; AsyncInferQueue: a pool of them."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from kiln.errors import KilnError
from kiln.runtime.compiled_model import CompiledModel, InferResult


class InferRequest:
    """Runs inferences of one CompiledModel; ``start_async``/``wait`` run it on the model's workers.

    One request runs one inference at a time; use several requests (or an
    AsyncInferQueue) for concurrent inferences.
    """

    def __init__(self, compiled: CompiledModel):
        self.compiled = compiled
        self._result: InferResult | None = None
        self._error: BaseException | None = None
        self._future: Future | None = None
        self._callback: Callable | None = None
        self._userdata = None
        self._profile: list[dict[str, Any]] = []
        self.latency_ms: float | None = None
        """Wall time of the last finished inference, in milliseconds."""

    def infer(self, inputs=None) -> InferResult:
        """Run synchronously and return the results."""
        self.wait()
        self._execute(inputs)
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        return self._result

    def _execute(self, inputs) -> None:
        start = time.perf_counter()
        try:
            self._result = self.compiled.infer(inputs)
            self._error = None
        except BaseException as error:  # re-raised by infer() / wait()
            self._error = error
        self.latency_ms = (time.perf_counter() - start) * 1e3
        self._profile = self.compiled.executable.profiling_info()

    def start_async(self, inputs=None, userdata=None) -> None:
        """Start an inference and return at once; ``wait()`` for it. Waits for a previous one first."""
        self.wait()
        self._error = None
        if userdata is not None:
            self._userdata = userdata
        self._future = self.compiled.executor().submit(self._run, inputs)

    def _run(self, inputs) -> None:
        self._execute(inputs)
        if self._callback is not None:
            self._callback(self._userdata if self._error is None else self._error)

    def set_callback(self, callback: Callable, userdata=None) -> None:
        """Call ``callback(userdata)`` when an async inference ends (its error, if it failed)."""
        self._callback = callback
        self._userdata = userdata

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the async inference; re-raise its error. Return False on timeout (seconds)."""
        if self._future is not None:
            try:
                self._future.result(timeout)
            except TimeoutError:
                return False
            self._future = None
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        return True

    wait_for = wait

    @property
    def busy(self) -> bool:
        return self._future is not None and not self._future.done()

    @property
    def results(self) -> InferResult | None:
        return self._result

    def get_output_tensor(self, index: int = 0):
        return self._result[index] if self._result is not None else None

    def get_profiling_info(self) -> list[dict[str, Any]]:
        """Return per-step counters of the last inference (compile with ``PERF_COUNT: True``).

        Each entry: node_name, node_type (fused node types joined by '+'),
        exec_type (the kernel), real_time_ms, fused_nodes, device, status.
        """
        return list(self._profile)

    profiling_info = property(get_profiling_info)


class AsyncInferQueue:
    """A pool of ``jobs`` InferRequests for throughput, like OpenVINO's AsyncInferQueue.

    ``start_async(inputs, userdata)`` waits for an idle request and starts it;
    the callback set with ``set_callback(fn)`` is called as ``fn(request, userdata)``
    on a worker thread when each finishes; ``wait_all()`` waits for all and
    re-raises the first error.
    """

    def __init__(self, compiled: CompiledModel, jobs: int = 0):
        jobs = jobs or compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")
        if jobs < 1:
            raise KilnError(f"AsyncInferQueue needs at least one job, got {jobs}")
        self.requests = [compiled.create_infer_request() for _ in range(jobs)]
        self._idle: queue.Queue[int] = queue.Queue()
        for i in range(jobs):
            self._idle.put(i)
        self._callback: Callable | None = None
        self._errors: list[BaseException] = []
        self._lock = threading.Lock()
        self._pending = 0
        self._done = threading.Condition(self._lock)

    def set_callback(self, callback: Callable[[InferRequest, Any], None]) -> None:
        self._callback = callback

    def __len__(self) -> int:
        return len(self.requests)

    def __iter__(self):
        return iter(self.requests)

    def __getitem__(self, index: int) -> InferRequest:
        return self.requests[index]

    def is_ready(self) -> bool:
        """Return True when some request is idle."""
        return not self._idle.empty()

    def get_idle_request_id(self) -> int:
        """Wait for an idle request and return its index (it stays idle)."""
        index = self._idle.get()
        self._idle.put(index)
        return index

    def start_async(self, inputs=None, userdata=None) -> None:
        index = self._idle.get()
        request = self.requests[index]
        with self._lock:
            self._pending += 1

        def finished(outcome, index=index, request=request, userdata=userdata):
            try:
                if isinstance(outcome, BaseException):
                    with self._lock:
                        self._errors.append(outcome)
                elif self._callback is not None:
                    self._callback(request, userdata)
            except BaseException as error:
                with self._lock:
                    self._errors.append(error)
            finally:
                request._error = None  # reported through wait_all()
                self._idle.put(index)
                with self._lock:
                    self._pending -= 1
                    self._done.notify_all()

        request.set_callback(finished, userdata)
        request.start_async(inputs)

    def wait_all(self) -> None:
        """Wait until every started inference finished; raise the first error any of them hit."""
        with self._lock:
            while self._pending:
                self._done.wait()
            errors, self._errors = self._errors, []
        if errors:
            raise errors[0]
