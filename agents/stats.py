"""Statistics from raw latency samples. Every figure is computed from the samples themselves."""

from __future__ import annotations

import math

import numpy as np

PERCENTILES = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0, "p999": 99.9}


def summarize(samples_ns: np.ndarray, wall_s: float, items_per_inference: int = 1) -> dict[str, float | int | None]:
    """Latency percentiles, mean, std, CV, min, max (ms) and throughput from raw samples.

    Args:
        samples_ns: one latency per inference, in nanoseconds.
        wall_s: the measured window's wall time, for throughput.
        items_per_inference: the batch size, so throughput counts samples, not calls.
    Returns:
        Metrics keyed with their units; None where there are no samples to compute from.
    """
    if samples_ns.size == 0:
        return {"iterations": 0, "latency_mean_ms": None, "throughput_ips": None}
    ms = samples_ns.astype(np.float64) / 1e6
    pct = np.percentile(ms, list(PERCENTILES.values()))
    metrics: dict[str, float | int | None] = {
        f"latency_{k}_ms": float(v) for k, v in zip(PERCENTILES, pct)}
    mean = float(ms.mean())
    std = float(ms.std(ddof=1)) if ms.size > 1 else 0.0
    metrics.update({
        "latency_mean_ms": mean, "latency_std_ms": std, "latency_cv": std / mean if mean else None,
        "latency_min_ms": float(ms.min()), "latency_max_ms": float(ms.max()),
        "median_ci95_pct": median_ci_pct(samples_ns),
        "iterations": int(ms.size), "measure_s": wall_s,
        "throughput_ips": ms.size * items_per_inference / wall_s if wall_s > 0 else None,
    })
    return metrics


def median_ci_pct(samples_ns: np.ndarray) -> float | None:
    """Half-width of the 95 % confidence interval of the median, in % of the median.

    Distribution-free: the interval between the order statistics at ranks
    n/2 ± 1.96·√n/2 (binomial approximation), so it holds for skewed latency tails too.
    """
    n = samples_ns.size
    if n < 10:
        return None
    half = 1.96 * math.sqrt(n) / 2
    lo_i, hi_i = max(0, math.floor(n / 2 - half)), min(n - 1, math.ceil(n / 2 + half))
    mid = ((n - 1) // 2, n // 2)
    # Four order statistics by selection, O(n): the stop rule calls this during a run.
    part = np.partition(samples_ns, sorted({lo_i, hi_i, *mid}))
    lo, hi = float(part[lo_i]), float(part[hi_i])
    median = (float(part[mid[0]]) + float(part[mid[1]])) / 2
    return float(max(median - lo, hi - median) / median * 100) if median > 0 else None
