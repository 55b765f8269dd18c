"""Find the highest Poisson arrival rate whose p99 latency stays under a bound (server scenario).

First an offline probe measures what the request pool can complete per second (the capacity);
then bisection over [0, 1.1 x capacity]: each step runs the server scenario at the middle rate
for the job's run length and keeps the half where the bound is met or missed. It stops after
`max_steps` rates or once the bracket is within `tolerance_pct` of the best passing rate.
Every step is reported, so a user sees how the answer was reached.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from agents.engines.pool import RequestPool
from agents.harness import Clock, Measurement, Progress, measure_offline, measure_server
from agents.spec import RunLength

HEADROOM = 1.1  # the upper end of the search, over the offline capacity (the probe is noisy too)


@dataclass
class PeakSearch:
    """What `find_peak` found.

    Args:
        peak_qps: the highest rate tried whose p99 met the bound (None: no rate did).
        capacity_qps: queries per second the pool completed in the offline probe.
        steps: one dict per rate tried: qps, p99_ms, passed, queries, missed.
        measurement: the server measurement at the peak (at the last rate if none passed).
        converged: the bracket closed within the tolerance before the steps ran out.
    """

    peak_qps: float | None
    capacity_qps: float
    measurement: Measurement
    steps: list[dict[str, Any]] = field(default_factory=list)
    converged: bool = False


def find_peak(pool: RequestPool, prepared: list[Any], length: RunLength, bound_ms: float,
              rng: np.random.Generator, max_steps: int = 8, tolerance_pct: float = 5.0,
              clock: Clock = time.perf_counter_ns, sleep: Callable[[float], None] = time.sleep,
              progress: Progress | None = None) -> PeakSearch:
    """Bisect the arrival rate for the highest one whose p99 latency is <= `bound_ms`.

    Args:
        pool, prepared: as for `measure_server`.
        length: the run length of the probe and of each step.
        bound_ms: the latency bound the p99 must meet.
        rng: seeded generator; it only seeds one generator per step, so a step's arrivals
            do not depend on how many arrivals earlier steps drew.
        max_steps: at most this many rates after the probe.
        tolerance_pct: stop once (high - low) <= this % of low.
    Returns:
        The search, with every step.
    """
    probe = measure_offline(pool, prepared, length, clock)
    capacity = probe.samples_ns.size / probe.wall_s if probe.wall_s > 0 else 0.0
    low, high, best, last = 0.0, capacity * HEADROOM, None, probe
    steps: list[Any] = []
    converged = False
    for i in range(max_steps):
        if progress:
            progress("find-peak", i / max_steps, len(steps))
        qps = (low + high) / 2
        step_rng = np.random.default_rng(int(rng.integers(0, 2**63)))
        last = measure_server(pool, prepared, length, qps, step_rng, clock, sleep)
        steps.append(_step(qps, last, bound_ms))
        if steps[-1]["passed"]:
            low, best = qps, last
        else:
            high = qps
        if low > 0 and high - low <= tolerance_pct / 100 * low:
            converged = True
            break
    return PeakSearch(low or None, capacity, best or last, steps, converged)


def _step(qps: float, m: Measurement, bound_ms: float) -> dict[str, Any]:
    lat_ms = m.samples_ns / 1e6
    p99 = float(np.percentile(lat_ms, 99)) if lat_ms.size else None
    return {"qps": qps, "p99_ms": p99, "passed": p99 is not None and p99 <= bound_ms,
            "queries": int(lat_ms.size), "missed": int(np.count_nonzero(lat_ms > bound_ms)),
            "measure_s": m.wall_s}
