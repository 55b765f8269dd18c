"""Several inferences in flight at once: the `RequestPool` interface and its default, threads.

`Session.request_pool(n)` returns a pool; the offline and server scenarios submit prepared
input sets into it. Engines with a native mechanism (OpenVINO's AsyncInferQueue, TensorRT's
execution contexts on CUDA streams, several TFLite interpreters) return their own pool; the
default here runs `Session.infer` on `n` worker threads.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from typing import Any, Callable

Clock = Callable[[], int]
# on_done(start_ns, end_ns, outputs): when the engine began and finished this inference.
OnDone = Callable[[int, int, Any], None]


class RequestPool(ABC):
    """`size` inferences in flight at most; one submitter thread, completions on any thread.

    Attributes:
        size: requests in flight at most.
        mechanism: how the engine runs them, recorded with the run (e.g. "threads").
        serialized: the engine runs one at a time whatever `size` is (the run is flagged).
    """

    size: int
    mechanism: str
    serialized: bool = False

    @abstractmethod
    def submit(self, prepared: Any, on_done: OnDone) -> None:
        """Start one inference; block while all `size` requests are busy.

        Args:
            prepared: a value of the session's `prepare`, not in flight in another request.
            on_done: called once for this inference after it finished, from any thread,
                at the latest by the next `wait_all`, with the clock readings (ns) when the
                engine started and finished it and its outputs. It must be quick. A pool may
                report late (when it reuses the request), never with late timestamps.
        Raises:
            Exception: an earlier inference or callback failed (the first such error).
        """

    @abstractmethod
    def wait_all(self) -> None:
        """Block until every submitted inference has finished and its `on_done` returned.

        Raises:
            Exception: an inference or callback failed (the first such error).
        """

    @abstractmethod
    def close(self) -> None:
        """Wait for what is in flight, then release threads and requests (idempotent)."""

    def __enter__(self) -> RequestPool:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class ThreadRequestPool(RequestPool):
    """`size` worker threads, each calling `infer` on what was submitted.

    Args:
        infer: the session's synchronous `infer`, or one per worker (for engines that run each
            request on its own instance, e.g. one TFLite interpreter per request).
        size: worker threads (= requests in flight).
        clock: nanosecond clock for the start and end of each inference.
        serialize: hold a lock around `infer`, for sessions whose `infer` must not run on two
            threads at once; the pool then runs one inference at a time, and says so.
    """

    def __init__(self, infer: Callable[[Any], Any] | list[Callable[[Any], Any]], size: int,
                 clock: Clock = time.perf_counter_ns, serialize: bool = False):
        if size < 1:
            raise ValueError(f"a request pool needs at least 1 request, got {size}")
        infers = list(infer) if isinstance(infer, (list, tuple)) else [infer] * size
        if len(infers) != size:
            raise ValueError(f"{len(infers)} infer functions for {size} requests")
        self.size, self._clock = size, clock
        self.mechanism = "threads, infer serialized (session not thread-safe)" if serialize else "threads"
        self.serialized = serialize and size > 1
        self._lock = threading.Lock() if serialize else None
        self._slots = threading.Semaphore(size)
        self._work: deque = deque()
        self._ready = threading.Semaphore(0)
        self._idle = threading.Condition()
        self._pending = 0
        self._error: BaseException | None = None
        self._threads = [threading.Thread(target=self._worker, args=(fn,), daemon=True,
                                          name=f"request-{i}") for i, fn in enumerate(infers)]
        for t in self._threads:
            t.start()

    def submit(self, prepared: Any, on_done: OnDone) -> None:
        self._raise()
        self._slots.acquire()
        with self._idle:
            self._pending += 1
        self._work.append((prepared, on_done))
        self._ready.release()

    def wait_all(self) -> None:
        with self._idle:
            self._idle.wait_for(lambda: self._pending == 0)
        self._raise()

    def close(self) -> None:
        if not self._threads:
            return
        with self._idle:
            self._idle.wait_for(lambda: self._pending == 0)
        for _ in self._threads:
            self._work.append(None)
            self._ready.release()
        for t in self._threads:
            t.join()
        self._threads = []

    def _worker(self, infer: Callable[[Any], Any]) -> None:
        while True:
            self._ready.acquire()
            item = self._work.popleft()
            if item is None:
                return
            self._run(infer, *item)

    def _run(self, infer: Callable[[Any], Any], prepared: Any, on_done: OnDone) -> None:
        try:
            if self._lock is not None:
                with self._lock:
                    t0 = self._clock()
                    out = infer(prepared)
                    t1 = self._clock()
            else:
                t0 = self._clock()
                out = infer(prepared)
                t1 = self._clock()
            on_done(t0, t1, out)
        except BaseException as e:  # kept for the submitter: a worker thread cannot raise to it
            self._error = self._error or e
        finally:
            with self._idle:
                self._pending -= 1
                self._idle.notify_all()
            self._slots.release()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error
