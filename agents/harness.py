"""Warm-up and measurement loops of the three scenarios (MLPerf names).

single-stream: one query at a time; the engine call is the only thing inside the timed region.
Input sets are prepared before timing and rotated; every output is kept alive until its slot
is reused, so nothing can be elided. The loop checks its stop conditions and reports progress
at most every `check_interval_s`, so the bookkeeping per iteration is a clock read and an
append.

offline: every request of a `RequestPool` kept busy; each request's own latency (engine start
to completion) is a sample, throughput is completions over the window. server: queries arrive
as a Poisson process at `qps` (seeded rng), issued by a scheduler thread; a query's latency
runs from its scheduled arrival to its completion, so time spent waiting for a free request
counts, as in MLPerf LoadGen.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from agents.engines.base import Session
from agents.engines.pool import RequestPool
from agents.spec import RunLength
from agents.stopping import StopRule

Clock = Callable[[], int]
Progress = Callable[[str, float, int], None]


@dataclass
class Measurement:
    """The raw result of one measured window."""

    samples_ns: np.ndarray
    start_ns: int
    end_ns: int
    stopped_by: str
    # Scenario figures beyond the latency samples (offline, server), keyed with units.
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def wall_s(self) -> float:
        """Length of the measured window in seconds."""
        return (self.end_ns - self.start_ns) / 1e9


def first_inference(session: Session, prepared: list[Any], clock: Clock = time.perf_counter_ns) -> tuple[float, Any]:
    """Time the very first call on a fresh session (part of cold start).

    Returns:
        (milliseconds, the outputs).
    """
    t0 = clock()
    out = session.infer(prepared[0])
    return (clock() - t0) / 1e6, out


def warm_up(session: Session, prepared: list[Any], length: RunLength,
            clock: Clock = time.perf_counter_ns, progress: Progress | None = None) -> tuple[int, float]:
    """Run until `warmup_iterations` AND `warmup_s` are reached (capped at `max_duration_s`).

    Returns:
        (iterations, seconds) spent warming up.
    """
    infer, n_sets = session.infer, len(prepared)
    start = clock()
    need_ns, cap_ns = int(length.warmup_s * 1e9), int(length.max_duration_s * 1e9)
    i, now = 0, start
    while (i < length.warmup_iterations or now - start < need_ns) and now - start < cap_ns:
        infer(prepared[i % n_sets])
        i += 1
        now = clock()
        if progress and i % 16 == 0:
            progress("warmup", min(1.0, (now - start) / max(need_ns, 1)), i)
    return i, (now - start) / 1e9


def measure_single_stream(session: Session, prepared: list[Any], length: RunLength,
                          clock: Clock = time.perf_counter_ns, progress: Progress | None = None,
                          check_interval_s: float = 0.1, until_stable: bool = False) -> Measurement:
    """One query at a time, back to back: the latency scenario.

    Stops once at least `min_iterations` AND `min_duration_s` are done (and, when
    `target_ci_pct` is set, the median's CI is that tight), or at `max_duration_s`.
    `until_stable`: the CI target is --until-stable's (see `agents.stopping.StopRule`).
    """
    infer, n_sets = session.infer, len(prepared)
    keep: list[Any] = [None] * n_sets
    samples: list[int] = []
    append = samples.append
    start = clock()
    rule = StopRule(length, start, until_stable)
    check_ns = int(check_interval_s * 1e9)
    next_check, i, stopped_by = start, 0, ""
    while not stopped_by:
        slot = i % n_sets
        t0 = clock()
        out = infer(prepared[slot])
        t1 = clock()
        append(t1 - t0)
        keep[slot] = out
        i += 1
        if t1 < next_check:
            continue
        next_check = t1 + check_ns
        if progress:
            progress("measure", min(1.0, (t1 - start) / max(rule.min_end - start, 1)), i)
        stopped_by = rule.check(t1, samples)
    return Measurement(np.asarray(samples, dtype=np.int64), start, clock(), stopped_by, rule.report())


def poisson_arrivals_ns(rng: np.random.Generator, qps: float, count: int, after_ns: int = 0) -> np.ndarray:
    """The next `count` arrival times of a Poisson process at `qps` (exponential gaps).

    Args:
        rng: the seeded generator (a fixed seed gives the same schedule).
        qps: mean arrivals per second.
        count: how many arrival times.
        after_ns: the previous arrival (or the start); the first gap is counted from it.
    Returns:
        Absolute times in ns, increasing.
    """
    gaps_ns = rng.exponential(1e9 / qps, size=count)
    return after_ns + np.cumsum(gaps_ns).astype(np.int64)


class _Tracker:
    """Hands out input sets that are not in flight and records every completion."""

    def __init__(self, pool: RequestPool, prepared: list[Any]):
        if len(prepared) <= pool.size:
            raise ValueError(f"{pool.size} requests in flight need more than {pool.size} input "
                             f"sets, got {len(prepared)}")
        self.pool, self.prepared = pool, prepared
        self.free = deque(range(len(prepared)))
        self.samples: list[int] = []
        self.ends: list[int] = []

    def submit(self, origin_ns: int | None = None) -> None:
        """Start one inference; its sample runs from `origin_ns` (default: its engine start)."""
        slot = self.free.popleft()  # never empty: more sets than requests, submit blocks

        def done(start_ns: int, end_ns: int, _outputs: Any) -> None:
            self.samples.append(end_ns - (start_ns if origin_ns is None else origin_ns))
            self.ends.append(end_ns)
            self.free.append(slot)
        self.pool.submit(self.prepared[slot], done)

    def result(self, start_ns: int, stopped_by: str, extra: dict[str, Any]) -> Measurement:
        self.pool.wait_all()
        end = max(self.ends) if self.ends else start_ns
        return Measurement(np.asarray(self.samples, dtype=np.int64), start_ns, end, stopped_by, extra)


def measure_offline(pool: RequestPool, prepared: list[Any], length: RunLength,
                    clock: Clock = time.perf_counter_ns, progress: Progress | None = None,
                    check_interval_s: float = 0.1, until_stable: bool = False) -> Measurement:
    """Every request of `pool` kept busy until `length` is met: the throughput scenario.

    Args:
        pool: the session's request pool; `len(prepared)` must exceed its size.
        length: run length (see `agents.stopping.effective_length` for --until-stable).
        until_stable: the CI target is --until-stable's (names the stop `until-stable`).
    Returns:
        Each request's latency (engine start to completion) as the samples; the window runs
        from the first submit to the last completion. extra: `time_to_stable_s`.
    """
    track = _Tracker(pool, prepared)
    check_ns = int(check_interval_s * 1e9)
    start = clock()
    rule, next_check, stopped_by, now = StopRule(length, start, until_stable), start + check_ns, "", start
    while not stopped_by:
        track.submit()
        now = clock()
        if now >= next_check:
            next_check = now + check_ns
            if progress:
                progress("measure", min(1.0, (now - start) / max(rule.min_end - start, 1)), len(track.samples))
            stopped_by = rule.check(now, track.samples)
    return track.result(start, stopped_by, rule.report())


def measure_server(pool: RequestPool, prepared: list[Any], length: RunLength, qps: float,
                   rng: np.random.Generator, clock: Clock = time.perf_counter_ns,
                   sleep: Callable[[float], None] = time.sleep, progress: Progress | None = None,
                   check_interval_s: float = 0.1, until_stable: bool = False) -> Measurement:
    """Queries at Poisson arrival times, issued by a scheduler thread: latency under load.

    Args:
        pool: the session's request pool; `len(prepared)` must exceed its size.
        qps: the target rate; rng: seeded generator of the arrival times.
        sleep: waits until the next arrival (seconds).
    Returns:
        Each query's latency from its scheduled arrival to its completion as the samples.
        extra: target and offered qps, how late the scheduler issued queries, time_to_stable_s.
    """
    track = _Tracker(pool, prepared)
    start = clock() + 1_000_000  # the first arrival must not be late by the thread's start
    scheduler = _Scheduler(track, start, qps, rng, clock, sleep)
    scheduler.start()
    rule, stopped_by, now = StopRule(length, start, until_stable), "", start
    try:
        while not stopped_by and scheduler.is_alive():
            sleep(check_interval_s)
            now = clock()
            if progress:
                progress("measure", min(1.0, (now - start) / max(rule.min_end - start, 1)), len(track.samples))
            stopped_by = rule.check(now, track.samples)
    finally:
        scheduler.stop.set()
        scheduler.join()
    if scheduler.error is not None:
        raise scheduler.error
    late = np.asarray(scheduler.late, dtype=np.int64)
    issued = scheduler.issued
    extra = {**rule.report(), "target_qps": qps, "queries_issued": issued,
             "offered_qps": issued / ((now - start) / 1e9) if now > start else None,
             "issue_late_p50_ms": float(np.percentile(late, 50)) / 1e6 if late.size else None,
             "issue_late_p99_ms": float(np.percentile(late, 99)) / 1e6 if late.size else None}
    return track.result(start, stopped_by, extra)


class _Scheduler(threading.Thread):
    """Waits for each arrival time, then submits (blocking while every request is busy).

    `late` holds, for each query the scheduler had to wait for, how long after its arrival
    time it woke (sleep granularity: benchlab's own delay, counted in the query's latency).
    A query already due when the scheduler got to it waited for a free request instead.
    """

    def __init__(self, track: _Tracker, start_ns: int, qps: float, rng: np.random.Generator,
                 clock: Clock, sleep: Callable[[float], None]):
        super().__init__(daemon=True, name="server-scheduler")
        self.track, self.start_ns, self.qps, self.rng = track, start_ns, qps, rng
        self.clock, self.sleep = clock, sleep
        self.stop, self.issued = threading.Event(), 0
        self.late: list[int] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._issue()
        except BaseException as e:  # raised again by measure_server on the caller's thread
            self.error = e

    def _issue(self) -> None:
        last, clock, late = self.start_ns, self.clock, self.late
        while True:
            for arrival in poisson_arrivals_ns(self.rng, self.qps, 256, last).tolist():
                wait = arrival - clock()
                if wait > 0:
                    self.sleep(wait / 1e9)
                    late.append(clock() - arrival)
                if self.stop.is_set():
                    return
                self.issued += 1
                self.track.submit(origin_ns=arrival)
                last = arrival
