"""When a measurement may stop: run length, the median's CI, and MLPerf's early-stopping count.

`--until-stable P` stops once the median's 95 % CI is within ±P % (order statistics, and
across blocks of the run: see `StopRule`), but never before the MLPerf early-stopping minimum
for the percentile the scenario reports (p90 for single-stream and offline, p99 for server)
and never after `max_duration_s`. Without it, a run measures at
least `min_iterations` AND `min_duration_s` (then, optionally, until `target_ci_pct`).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from agents.spec import RunLength, Scenario
from agents.stats import median_ci_pct

CONFIDENCE = 0.99  # MLPerf LoadGen's early-stopping confidence


def reported_percentile(scenario: str) -> float:
    """The latency percentile a scenario is judged by (MLPerf): p99 for server, else p90."""
    return 99.0 if scenario == "server" else 90.0


def early_stopping_min_queries(percentile: float, overlatency: int = 1,
                               confidence: float = CONFIDENCE) -> int:
    """The fewest queries for which MLPerf's early stopping can vouch for a percentile.

    The smallest n such that, were the true `percentile` exactly at the estimate, seeing
    `overlatency` or fewer of n queries above it has probability <= 1 - confidence (the
    binomial tail LoadGen's `MinPassingQueriesFinder` solves, tolerance 0). With one
    overlatency query: 64 for p90, 662 for p99.

    Args:
        percentile: e.g. 90 or 99 (exclusive of 0 and 100).
        overlatency: queries allowed above the percentile's latency (LoadGen's t).
        confidence: e.g. 0.99.
    Returns:
        The minimum query count.
    """
    p = percentile / 100.0
    if not 0 < p < 1:
        raise ValueError(f"percentile must be in (0, 100), got {percentile}")
    limit = math.log(1 - confidence)
    n = overlatency + 1
    while _log_binom_cdf(overlatency, n, 1 - p) > limit:
        n += max(1, n // 64)  # coarse steps, refined below: p99.9 needs thousands
    while n > overlatency + 1 and _log_binom_cdf(overlatency, n - 1, 1 - p) <= limit:
        n -= 1
    return n


def _log_binom_cdf(k: int, n: int, q: float) -> float:
    """log P(X <= k) for X ~ Binomial(n, q), summed in log space (n may be large)."""
    terms = [math.lgamma(n + 1) - math.lgamma(x + 1) - math.lgamma(n - x + 1)
             + x * math.log(q) + (n - x) * math.log1p(-q) for x in range(min(k, n) + 1)]
    top = max(terms)
    return top + math.log(sum(math.exp(t - top) for t in terms))


def effective_length(length: RunLength, scenario: Scenario) -> RunLength:
    """The run length a scenario's measurement obeys: with `until_stable_pct`, no minimum
    duration, at least the early-stopping count, and the CI target set to that pct."""
    pct = scenario.until_stable_pct
    if pct is None:
        return length
    need = early_stopping_min_queries(reported_percentile(scenario.name))
    return dataclasses.replace(length, min_duration_s=0.0, target_ci_pct=pct,
                               min_iterations=max(length.min_iterations, need))


class StopRule:
    """Decides, from the clock and the samples so far, whether a measurement is done.

    With `until_stable`, each call to `check` also closes a block of the samples that arrived
    since the previous call (one check interval, 0.1 s by default), and the CI target must be
    met twice: by the order-statistics CI of all samples (which assumes independent samples)
    and by a t-interval over the block medians, which widens when the latency drifts during
    the run. The first alone stops within 0.1 s on a fast model; benchmarks/until_stable.py
    measured the median of such a window 2 % off the same run's 20 s median.

    Args:
        length: the run length, usually from `effective_length`.
        start_ns: when the measured window began.
        until_stable: --until-stable: add the block check and name the stop `until-stable`.
    """

    def __init__(self, length: RunLength, start_ns: int, until_stable: bool = False):
        self.start, self.until_stable = start_ns, until_stable
        self.min_end = start_ns + int(length.min_duration_s * 1e9)
        self.max_end = start_ns + int(length.max_duration_s * 1e9)
        self.min_count = length.min_iterations
        self.target = length.target_ci_pct
        self.blocks: list[float] = []
        self.stable_at_ns: int | None = None
        self._seen = 0
        self._ci_at = 0  # sample count at which the CI is next worth computing

    def check(self, now_ns: int, samples: list[int] | np.ndarray) -> str:
        """Why to stop now ("max-duration", "min-length", "ci-target", "until-stable"), or ""."""
        if self.until_stable:
            self._close_block(samples)
        if now_ns >= self.max_end:
            return "max-duration"
        if len(samples) < self.min_count or now_ns < self.min_end:
            return ""
        if self.target is None:
            return "min-length"
        if len(samples) < self._ci_at:
            return ""
        # Recompute only after the sample count grew by 5 %: the interval cannot move much
        # sooner, and the total cost stays linear in the run's length instead of quadratic.
        self._ci_at = int(len(samples) * 1.05) + 1
        ci = median_ci_pct(np.asarray(samples, dtype=np.int64))
        if ci is None or ci > self.target:
            return ""
        if not self.until_stable:
            return "ci-target"
        blocks = self.blocks_ci_pct()
        if blocks is None or blocks > self.target:
            return ""
        self.stable_at_ns = now_ns
        return "until-stable"

    def blocks_ci_pct(self) -> float | None:
        """Half-width of the 95 % t-interval of the mean block median, in % (None: < 5 blocks)."""
        k = len(self.blocks)
        if k < MIN_BLOCKS:
            return None
        medians = np.asarray(self.blocks)
        half = _t975(k - 1) * medians.std(ddof=1) / math.sqrt(k)
        return float(half / medians.mean() * 100)

    def report(self) -> dict[str, float | int | None]:
        """What --until-stable achieved: time to stable, the block interval, the block count."""
        if not self.until_stable:
            return {}
        took = (self.stable_at_ns - self.start) / 1e9 if self.stable_at_ns is not None else None
        return {"time_to_stable_s": took, "median_blocks_ci95_pct": self.blocks_ci_pct(),
                "stable_blocks": len(self.blocks)}

    def _close_block(self, samples: list[int] | np.ndarray) -> None:
        n = len(samples)
        if n - self._seen >= MIN_BLOCK_SAMPLES:
            self.blocks.append(float(np.median(np.asarray(samples[self._seen:n]))))
            self._seen = n


MIN_BLOCKS = 5  # blocks (check intervals) before the block interval means anything
MIN_BLOCK_SAMPLES = 5


def _t975(df: int) -> float:
    """The 97.5 % quantile of Student's t (Cornish-Fisher; within 2 % of exact for df >= 4)."""
    z = 1.959964
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
