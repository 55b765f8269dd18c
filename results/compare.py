"""The decision rule: is a new run of a series slower (or faster) than its baseline, for real?

Pure functions over numbers, no database. Two kinds of metric:

- **latency**, judged on raw samples: the ratio of the new run's median to the baseline's
  (the median of its runs' medians, so one odd baseline run cannot move it) must be past the
  threshold, AND a two-sided Mann-Whitney U test of the new samples against the pooled
  baseline samples must reject "same distribution" at `alpha` (strict: 0.001 by default).
- **per-run metrics** (throughput, energy per inference, memory, accuracy): one number per
  run, so the test is across runs: the new value must lie outside the baseline runs'
  prediction interval (Student t on the logs, or on the values for accuracy) at `alpha_runs`,
  AND past the threshold.

With thousands of samples a U test finds even a 1 % shift significant, and run-to-run noise
(another process, a CPU migration) moves whole runs; the threshold and the confirmation
re-run (orchestrator/nightly) are what keep a noisy machine from crying wolf. The interval
reported with latency therefore includes the baseline's run-to-run spread.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Mapping, Sequence

import numpy as np
from scipy import special

REGRESSION, IMPROVEMENT, UNCHANGED, INCONCLUSIVE = "regression", "improvement", "unchanged", "inconclusive"
# Tonight's samples are strided down to this many for the U test: plenty of power, bounded cost.
MAX_TEST_SAMPLES = 4000
# A per-run metric's baseline spread is floored at 0.5 % (log scale): identical baseline values
# must not make a 0.1 % wobble "significant" (the threshold would still stop it, but p misleads).
NOISE_FLOOR = 0.005


@dataclass(frozen=True)
class Metric:
    """A quantity the rule can judge.

    Args:
        name: the metric's name in suites, thresholds and reports.
        column: the run's field (a `Run` column or a `metrics` key).
        worse: +1 when a higher value is worse (latency), -1 when lower is worse (throughput).
        kind: `samples` (raw latencies) or `runs` (one value per run).
        relative: thresholds are ratios (0.05 = 5 %); False: absolute differences (accuracy).
        threshold: the default threshold.
    """

    name: str
    column: str
    worse: int
    kind: str
    relative: bool
    threshold: float


METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("latency", "latency_p50_ms", +1, "samples", True, 0.05),
    Metric("throughput", "throughput_ips", -1, "runs", True, 0.05),
    Metric("energy", "energy_per_inference_j", +1, "runs", True, 0.05),
    Metric("memory", "peak_rss_mb", +1, "runs", True, 0.10),
    # top-1 agreement with the fp32 reference where the output is class scores, else cosine.
    Metric("accuracy", "accuracy", -1, "runs", False, 0.01),
)}


@dataclass(frozen=True)
class Rule:
    """Thresholds and levels of the decision.

    Args:
        thresholds: metric name -> threshold (ratio for relative metrics: 0.05 = 5 %).
        alpha: level of the U test on raw latencies.
        alpha_runs: level of the across-runs test of per-run metrics.
        min_runs: baseline runs needed before anything is judged.
    """

    thresholds: Mapping[str, float] = field(default_factory=lambda: {m: d.threshold for m, d in METRICS.items()})
    alpha: float = 0.001
    alpha_runs: float = 0.01
    min_runs: int = 3

    def with_thresholds(self, overrides: Mapping[str, float]) -> Rule:
        """This rule with some thresholds replaced."""
        return replace(self, thresholds={**self.thresholds, **overrides})


@dataclass
class Decision:
    """What the rule says about one metric of one series.

    `ratio` is new / baseline (relative metrics) or `delta` new - baseline (accuracy); the
    interval is of the same quantity, at 95 %; `change` is signed so that > 0 is worse.
    """

    metric: str
    verdict: str
    baseline: float | None = None
    value: float | None = None
    ratio: float | None = None
    low: float | None = None
    high: float | None = None
    p_value: float | None = None
    threshold: float | None = None
    n_new: int = 0
    n_baseline_runs: int = 0
    note: str = ""

    @property
    def worse_by(self) -> float | None:
        """How much worse, as a signed fraction (relative) or difference (absolute)."""
        if self.ratio is None:
            return None
        m = METRICS[self.metric]
        return m.worse * ((self.ratio - 1.0) if m.relative else self.ratio)


def _verdict(metric: Metric, change: float, threshold: float, significant: bool) -> str:
    """`change` is new/base - 1 (relative) or new - base (absolute)."""
    worse = metric.worse * change
    if significant and worse > threshold:
        return REGRESSION
    if significant and -worse > threshold:
        return IMPROVEMENT
    return UNCHANGED


def _strided(x: np.ndarray, n: int) -> np.ndarray:
    return x if x.size <= n else x[np.linspace(0, x.size - 1, n).astype(np.int64)]


def mann_whitney_p(x: np.ndarray, y: np.ndarray) -> float:
    """Two-sided p of the Mann-Whitney U test, normal approximation with tie and continuity
    corrections (scipy.stats.mannwhitneyu's `asymptotic` method), in plain numpy: a nightly
    runs it once per series, and scipy's wrapper costs more than the test. U counts, for each
    x, the y below it (a tie counts half), found by binary search in the sorted y."""
    xs, ys = np.sort(x), np.sort(y)
    n1, n2 = xs.size, ys.size
    ux, cx = _groups(xs)
    below = np.searchsorted(ys, ux, "left")
    cyx = np.searchsorted(ys, ux, "right") - below  # y equal to each distinct x
    u = float((cx * (below + 0.5 * cyx)).sum())
    _, cy = _groups(ys)
    both = cx + cyx  # tie groups of the pooled sample: those holding an x, plus y-only ones
    ties = float((both ** 3 - both).sum() + (cy ** 3 - cy).sum() - (cyx ** 3 - cyx).sum())
    n = n1 + n2
    sigma = math.sqrt(n1 * n2 / 12.0 * ((n + 1) - ties / (n * (n - 1))))
    if sigma == 0:
        return 1.0
    d = u - n1 * n2 / 2.0
    stat = (abs(d) - 0.5) / sigma if abs(d) >= 0.5 else 0.0
    return min(1.0, math.erfc(stat / math.sqrt(2)))


def _groups(ordered: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values of a sorted array and how often each occurs."""
    new = ordered[1:] != ordered[:-1]
    if new.all():  # no ties: the usual case for timer readings
        return ordered, np.ones(ordered.size)
    starts = np.concatenate(([0], np.flatnonzero(new) + 1))
    return ordered[starts], np.diff(np.append(starts, ordered.size)).astype(np.float64)


def _center(x: np.ndarray) -> tuple[float, float]:
    """A run's median and half the log-width of the median's 95 % interval (order
    statistics), from one O(n) partition."""
    n = x.size
    mid = n // 2
    k = int(math.floor((n - 1.96 * math.sqrt(n)) / 2))
    usable = n >= 6 and k >= 0
    kth = sorted({mid - 1 if n % 2 == 0 and n > 1 else mid, mid, *((k, n - 1 - k) if usable else ())})
    s = np.partition(x, kth)
    median = float(s[mid]) if n % 2 else float((s[mid - 1] + s[mid]) / 2)
    if not usable or s[k] <= 0:
        return median, float("inf")
    return median, (math.log(s[n - 1 - k]) - math.log(s[k])) / 2


def _medians(runs: list[np.ndarray]) -> np.ndarray:
    """Each run's median; runs of one length (reference samples) in one numpy call."""
    out = np.empty(len(runs))
    for size in {r.size for r in runs}:
        pick = [i for i, r in enumerate(runs) if r.size == size]
        out[pick] = np.median(np.stack([runs[i] for i in pick]), axis=1)
    return out


def judge_samples(new: np.ndarray, baseline_runs: Sequence[np.ndarray] | np.ndarray, threshold: float,
                  alpha: float, metric: Metric = METRICS["latency"]) -> Decision:
    """The latency rule on raw samples.

    Args:
        new: the new run's latencies (ms).
        baseline_runs: each baseline run's latencies (ms), or a subsample of each; a 2-D
            array (runs x samples) when they all have the same length.
        threshold: the ratio threshold (0.05 = 5 %).
        alpha: the U test's level.
    """
    if isinstance(baseline_runs, np.ndarray) and baseline_runs.ndim == 2:
        runs, medians = list(baseline_runs), np.median(baseline_runs, axis=1)  # equal-length runs
        pooled = baseline_runs.ravel()
    else:
        runs = [np.asarray(r, dtype=np.float64) for r in baseline_runs if len(r)]
        medians = _medians(runs) if runs else np.empty(0)
        pooled = np.concatenate(runs) if runs else np.empty(0)
    new = np.asarray(new, dtype=np.float64)
    if not runs or new.size == 0:
        return Decision(metric.name, INCONCLUSIVE, threshold=threshold, n_new=int(new.size),
                        n_baseline_runs=len(runs), note="no samples")
    value, within_new = _center(new)
    base = float(np.median(medians))
    ratio = value / base
    p = mann_whitney_p(_strided(new, MAX_TEST_SAMPLES), _strided(pooled, MAX_TEST_SAMPLES * 4))
    half = _ratio_halfwidth(within_new, runs, medians)
    low, high = (ratio * math.exp(-half), ratio * math.exp(half)) if math.isfinite(half) else (None, None)
    return Decision(metric.name, _verdict(metric, ratio - 1.0, threshold, p < alpha), base, value,
                    ratio, low, high, p, threshold, int(new.size), len(runs))


def _ratio_halfwidth(within_new: float, runs: list[np.ndarray], medians: np.ndarray) -> float:
    # The new run's own sampling error, plus the baseline's run-to-run spread, which the new
    # run is assumed to share (it is one more run of the series) and which already holds the
    # baseline runs' own sampling error; with a single baseline run, that run's error instead.
    if len(runs) > 1:
        base = float(np.var(np.log(medians), ddof=1)) * (1 + 1 / len(runs))
    else:
        base = (_center(runs[0])[1] / 1.96) ** 2
    return 1.96 * math.sqrt((within_new / 1.96) ** 2 + base)


def judge_values(new: float | None, baseline: Sequence[float], metric: Metric, threshold: float,
                 alpha: float) -> Decision:
    """The across-runs rule of a per-run metric: a prediction interval of the baseline runs.

    Args:
        new: the new run's value (None: not measured).
        baseline: the baseline runs' values (runs that did not measure it left out).
    """
    values = np.array([v for v in baseline if v is not None and np.isfinite(v)], dtype=np.float64)
    if new is None or not np.isfinite(new) or values.size < 2 or (metric.relative and (new <= 0 or (values <= 0).any())):
        why = "not measured" if new is None else f"{values.size} baseline value(s)"
        return Decision(metric.name, INCONCLUSIVE, threshold=threshold, n_new=int(new is not None),
                        n_baseline_runs=int(values.size), value=new, note=why)
    x, v = (math.log(new), np.log(values)) if metric.relative else (float(new), values)
    mean, n = float(v.mean()), v.size
    spread = max(float(v.std(ddof=1)), NOISE_FLOOR if metric.relative else 0.0)
    scale = spread * math.sqrt(1 + 1 / n)
    diff = x - mean
    if scale == 0:
        p = 0.0 if diff != 0 else 1.0
        low = high = diff
    else:
        # scipy.special's t distribution: the same numbers as scipy.stats.t, without its
        # per-call overhead (a nightly calls this per series and metric).
        p = float(2 * special.stdtr(n - 1, -abs(diff) / scale))
        q = float(special.stdtrit(n - 1, 0.975)) * scale
        low, high = diff - q, diff + q
    base = float(np.exp(mean)) if metric.relative else float(np.median(values))
    if metric.relative:
        ratio, low, high = math.exp(diff), math.exp(low), math.exp(high)
        change = ratio - 1.0
    else:
        ratio = change = float(new) - base
        low, high = low + (mean - base), high + (mean - base)
    return Decision(metric.name, _verdict(metric, change, threshold, p < alpha), base, float(new),
                    ratio, low, high, p, threshold, 1, n)


def applies(metric: str, scenario: str) -> bool:
    """Whether a metric is judged in a scenario. Throughput is judged under load (offline,
    server) only: in single-stream it is 1 / latency plus the loop's own pauses, a noisier copy
    of the latency that is already judged on its raw samples."""
    return metric != "throughput" or scenario != "single-stream"


def agrees(first: Decision, second: Decision) -> bool:
    """Whether a confirmation re-run's decision agrees with the first one (same verdict, and
    that verdict is a regression or an improvement)."""
    return first.verdict in (REGRESSION, IMPROVEMENT) and second.verdict == first.verdict


VALUE_COLUMNS = ("latency_p50_ms", "throughput_ips", "energy_per_inference_j", "peak_rss_mb", "accuracy")


def run_values(metrics: Mapping[str, object]) -> dict[str, float | None]:
    """The per-run values the rule reads, from a RunResult's metrics."""
    def num(key: str) -> float | None:
        v = metrics.get(key)
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None

    top1 = num("accuracy_top1_agreement")
    out = {m.column: num(m.column) for m in METRICS.values() if m.column != "accuracy"}
    out["accuracy"] = top1 if top1 is not None else num("accuracy_cosine_min")
    return out
