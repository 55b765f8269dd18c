"""Warm-up and measurement loops. The engine call is the only thing inside the timed region.

Input sets are prepared before timing and rotated; every output is kept alive until its slot
is reused, so nothing can be elided. The loop checks its stop conditions and reports progress
at most every `check_interval_s`, so the bookkeeping per iteration is a clock read and an
append.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from agents.engines.base import Session
from agents.spec import RunLength
from agents.stats import median_ci_pct

Clock = Callable[[], int]
Progress = Callable[[str, float, int], None]


@dataclass
class Measurement:
    """The raw result of one measured window."""

    samples_ns: np.ndarray
    start_ns: int
    end_ns: int
    stopped_by: str

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
                          check_interval_s: float = 0.1) -> Measurement:
    """One query at a time, back to back: the latency scenario.

    Stops once at least `min_iterations` AND `min_duration_s` are done (and, when
    `target_ci_pct` is set, the median's CI is that tight), or at `max_duration_s`.
    """
    infer, n_sets = session.infer, len(prepared)
    keep: list[Any] = [None] * n_sets
    samples: list[int] = []
    append = samples.append
    start = clock()
    min_end, max_end = start + int(length.min_duration_s * 1e9), start + int(length.max_duration_s * 1e9)
    check_ns = int(check_interval_s * 1e9)
    next_check, i, stopped_by = start, 0, "max-duration"
    while True:
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
            progress("measure", min(1.0, (t1 - start) / max(min_end - start, 1)), i)
        if t1 >= max_end:
            break
        if i >= length.min_iterations and t1 >= min_end:
            stopped_by = _enough(samples, length.target_ci_pct)
            if stopped_by:
                break
            stopped_by = "max-duration"
    return Measurement(np.asarray(samples, dtype=np.int64), start, clock(), stopped_by)


def _enough(samples: list[int], target_ci_pct: float | None) -> str:
    if target_ci_pct is None:
        return "min-length"
    ci = median_ci_pct(np.asarray(samples, dtype=np.int64))
    return "ci-target" if ci is not None and ci <= target_ci_pct else ""
