"""OpenVINO requests in flight: an `AsyncInferQueue`, as benchmark_app's async mode."""

from __future__ import annotations

import time
from typing import Any

from agents.engines.pool import Clock, OnDone, RequestPool


class OvRequestPool(RequestPool):
    """`size` infer requests of one compiled model, started with `start_async`.

    Each submit waits for an idle request (GIL released), sets the prepared input tensors on
    it (zero-copy: the tensors `prepare` made) and starts it. No Python callback runs on
    OpenVINO's threads: a finished request is reported when the submitter reuses it or at
    `wait_all`, with the request's own C++-measured latency (as benchmark_app reports it),
    so completions cost the inference threads no GIL. A Python callback per completion was
    measured 4 % slower on a 2-core CPU (docs/PERFORMANCE.md).

    Args:
        compiled: an `openvino.CompiledModel`.
        size: infer requests in the queue.
        n_inputs: the model's input count.
        clock: nanosecond clock.
    """

    def __init__(self, compiled: Any, size: int, n_inputs: int, clock: Clock = time.perf_counter_ns):
        import openvino as ov

        if size < 1:
            raise ValueError(f"a request pool needs at least 1 request, got {size}")
        self.size, self._n_inputs, self._clock = size, n_inputs, clock
        self.mechanism = f"openvino AsyncInferQueue, {size} infer requests"
        self._queue = ov.AsyncInferQueue(compiled, size)
        self._start, self._request = _raw_queue_calls()
        self._pending: list[tuple[OnDone, int] | None] = [None] * size
        self._tensors: dict[int, tuple[Any, dict[int, Any]]] = {}

    def submit(self, prepared: Any, on_done: OnDone) -> None:
        tensors = self._inputs_of(prepared)
        idle = self._queue.get_idle_request_id()  # blocks until a request is idle, GIL released
        self._report(idle)
        started = self._clock()
        self._start(self._queue, tensors, None)
        self._pending[idle] = (on_done, started)

    def wait_all(self) -> None:
        self._queue.wait_all()
        for i in range(self.size):
            self._report(i)

    def close(self) -> None:
        if self._queue is not None:
            self.wait_all()
            self._queue = None
            self._tensors.clear()

    def _report(self, i: int) -> None:
        pending = self._pending[i]
        if pending is None:
            return
        self._pending[i] = None
        on_done, started = pending
        request = self._request(self._queue, i)
        on_done(started, started + int(request.latency * 1e6), request)

    def _inputs_of(self, prepared: Any) -> dict[int, Any]:
        # `prepared` is an InferRequest with its input tensors set (OvSession.prepare); the
        # queue's requests get those same tensors, so no data is copied per submit.
        entry = self._tensors.get(id(prepared))
        if entry is None:
            entry = (prepared, {i: prepared.get_input_tensor(i) for i in range(self._n_inputs)})
            self._tensors[id(prepared)] = entry
        return entry[1]


def _raw_queue_calls() -> tuple[Any, Any]:
    # The public AsyncInferQueue.start_async runs the data dispatcher on every call (and looks
    # up the idle request again), and its __getitem__ wraps each request in a new Python
    # object; the binding underneath takes the tensors as they are.
    try:
        from openvino._pyopenvino import AsyncInferQueue
        return AsyncInferQueue.start_async, AsyncInferQueue.__getitem__
    except (ImportError, AttributeError):
        return (lambda queue, inputs, userdata: queue.start_async(inputs, userdata),
                lambda queue, i: queue[i])
