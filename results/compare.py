"""The decision rule: is a new run of a series slower (or faster) than its baseline, for real?

Pure functions over numbers, no database. The unit of evidence is a **run**, not an iteration:
thousands of latencies of one run are not independent (the machine drifts, a neighbour loads
it for a while, a process lands in a faster mode for its whole life), so a test that treats
them as independent calls pure drift significant (p of 1e-12 in an A/A night). So:

- **latency**: tonight's run median, as a ratio to the baseline (the median of its runs'
  medians, so one odd baseline run cannot move it), must lie outside the baseline runs'
  **prediction interval** (Student t on the log run medians, level 1 - `alpha_runs`) AND past
  the threshold; then, as a second gate only, tonight's run cut into consecutive blocks must
  put its block medians on the same side of the baseline in a sign test at `alpha` (a burst
  in part of the run is not a slower run). With fewer than 2 baseline runs the run-to-run
  noise is unknown: inconclusive.
- **per-run metrics** (throughput, energy per inference, memory, accuracy): one number per
  run, the same prediction interval (on the logs, or on the values for accuracy) at
  `alpha_runs`, AND past the threshold.

The interval reported with a decision is the one that decided: the prediction interval moved
onto tonight's ratio (`low`..`high` holds 1 exactly when tonight's run lies inside the
baseline's prediction interval), at the level in `Decision.level`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Mapping, Sequence

import numpy as np
from scipy import special

REGRESSION, IMPROVEMENT, UNCHANGED, INCONCLUSIVE = "regression", "improvement", "unchanged", "inconclusive"
# The second gate cuts tonight's run into this many blocks, each of at least MIN_BLOCK samples
# (32 blocks: 26 on one side reach p < 0.001; fewer blocks need a clearer majority).
BLOCKS, MIN_BLOCK = 32, 20
# The baseline runs' spread is floored at 0.5 % (log scale): identical baseline values must not
# make a 0.1 % wobble "significant" (the threshold would still stop it, but p misleads).
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
        alpha: level of the second gate of latency (sign test of tonight's block medians).
        alpha_runs: level of the baseline runs' prediction interval, the run-level test of
            every metric (latency's run medians and the per-run metrics).
        min_runs: baseline runs needed before anything is judged.
    """

    thresholds: Mapping[str, float] = field(default_factory=lambda: {m: d.threshold for m, d in METRICS.items()})
    alpha: float = 0.001
    alpha_runs: float = 0.01
    min_runs: int = 5

    def with_thresholds(self, overrides: Mapping[str, float]) -> Rule:
        """This rule with some thresholds replaced."""
        return replace(self, thresholds={**self.thresholds, **overrides})


@dataclass
class Decision:
    """What the rule says about one metric of one series.

    `ratio` is new / baseline (relative metrics) or `delta` new - baseline (accuracy); `low`..
    `high` is the baseline runs' prediction interval moved onto that quantity, at `level`
    (1 - alpha_runs): the interval that decided, excluding 1 (0 for accuracy) exactly when
    the run-level test rejects.
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
    level: float = 0.99

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


def _center(x: np.ndarray) -> tuple[float, float]:
    """A run's median and half the log-width of the median's 95 % interval (order
    statistics, as if the samples were independent: a floor, not the run-to-run noise), from
    one O(n) partition."""
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


def block_sign_p(new: np.ndarray, center: float) -> tuple[float, int, int]:
    """The second gate: tonight's samples, in time order, cut into up to `BLOCKS` consecutive
    blocks of at least `MIN_BLOCK` samples; two-sided sign test of the block medians against
    the baseline's center. Returns (p, blocks on the majority side, blocks not tied).

    Block medians are close to independent where single samples are not (a preempted
    iteration drags its neighbours with it); too few samples make too few blocks to reach
    a small p, which is how a run too short to judge is refused."""
    b = min(BLOCKS, new.size // MIN_BLOCK)
    if b == 0:
        return 1.0, 0, 0
    meds = np.median(new[: b * (new.size // b)].reshape(b, -1), axis=1)
    above, below = int((meds > center).sum()), int((meds < center).sum())
    m, k = above + below, max(above, below)
    if m == 0:
        return 1.0, 0, 0
    return min(1.0, 2 * float(special.bdtrc(k - 1, m, 0.5))), k, m


def _prediction(diff: float, spread: float, n: int, alpha_runs: float,
                center_var: float = 1.0) -> tuple[float, float]:
    """(p, half-width) of a new value `diff` away from the baseline's center, against the
    prediction interval of n baseline values with standard deviation `spread`: Student t
    with n - 1 degrees of freedom, scale spread * sqrt(1 + center_var / n) (`center_var`: the
    variance of the center over that of one value, times n: 1 for a mean, about pi/2 for a
    median)."""
    scale = spread * math.sqrt(1 + center_var / n)
    if scale == 0:
        return (0.0 if diff != 0 else 1.0), 0.0
    # scipy.special's t distribution: the same numbers as scipy.stats.t, without its
    # per-call overhead (a nightly calls this per series and metric).
    p = float(2 * special.stdtr(n - 1, -abs(diff) / scale))
    return p, float(special.stdtrit(n - 1, 1 - alpha_runs / 2)) * scale


def judge_samples(new: np.ndarray, baseline_runs: Sequence[np.ndarray] | np.ndarray, threshold: float,
                  alpha: float, metric: Metric = METRICS["latency"], alpha_runs: float = 0.01) -> Decision:
    """The latency rule: run level first, block medians second (see the module docstring).

    Args:
        new: the new run's latencies (ms), in the order they were measured.
        baseline_runs: each baseline run's latencies (ms), or a subsample of each; a 2-D
            array (runs x samples) when they all have the same length.
        threshold: the ratio threshold (0.05 = 5 %).
        alpha: the level of the second gate (sign test of tonight's block medians).
        alpha_runs: the level of the prediction interval of the baseline runs' medians.

    Returns:
        The decision; `p_value` is the run-level test's, `note` says how the blocks fell.
    """
    if isinstance(baseline_runs, np.ndarray) and baseline_runs.ndim == 2:
        n_runs, medians = baseline_runs.shape[0], np.median(baseline_runs, axis=1)  # equal-length runs
    else:
        runs = [np.asarray(r, dtype=np.float64) for r in baseline_runs if len(r)]
        n_runs, medians = len(runs), (_medians(runs) if runs else np.empty(0))
    new = np.asarray(new, dtype=np.float64)
    common = dict(threshold=threshold, n_new=int(new.size), n_baseline_runs=n_runs, level=1 - alpha_runs)
    if not n_runs or new.size == 0:
        return Decision(metric.name, INCONCLUSIVE, note="no samples", **common)
    value, within_new = _center(new)
    base = float(np.median(medians))
    ratio = value / base
    if n_runs < 2 or base <= 0 or value <= 0:
        return Decision(metric.name, INCONCLUSIVE, base, value, ratio, note=(
            "1 baseline run: its run-to-run noise is unknown (the rule needs 2 or more)"), **common)
    logs = np.log(medians)
    # The spread is floored: runs that agree by chance to 0.1 % must not make a 1 % wobble
    # significant, nor may the baseline claim more precision than tonight's own median has.
    spread = max(float(logs.std(ddof=1)), NOISE_FLOOR, within_new / 1.96)
    p, half = _prediction(math.log(ratio), spread, n_runs, alpha_runs, center_var=math.pi / 2)
    p_blocks, side, blocks = block_sign_p(new, base)
    where = "above" if value > base else "below"
    note = (f"{side} of {blocks} block medians {where} the baseline (sign test p {p_blocks:.2g})"
            if blocks else "too few samples for block medians")
    verdict = _verdict(metric, ratio - 1.0, threshold, p < alpha_runs and p_blocks < alpha)
    return Decision(metric.name, verdict, base, value, ratio, ratio * math.exp(-half),
                    ratio * math.exp(half), p, note=note, **common)


def judge_values(new: float | None, baseline: Sequence[float], metric: Metric, threshold: float,
                 alpha: float) -> Decision:
    """The across-runs rule of a per-run metric: a prediction interval of the baseline runs.

    Args:
        alpha: the level of the prediction interval (the suite's `alpha_runs`).
        new: the new run's value (None: not measured).
        baseline: the baseline runs' values (runs that did not measure it left out).
    """
    values = np.array([v for v in baseline if v is not None and np.isfinite(v)], dtype=np.float64)
    if new is None or not np.isfinite(new) or values.size < 2 or (metric.relative and (new <= 0 or (values <= 0).any())):
        why = "not measured" if new is None else f"{values.size} baseline value(s)"
        return Decision(metric.name, INCONCLUSIVE, threshold=threshold, n_new=int(new is not None),
                        n_baseline_runs=int(values.size), value=new, note=why, level=1 - alpha)
    x, v = (math.log(new), np.log(values)) if metric.relative else (float(new), values)
    mean, n = float(v.mean()), v.size
    spread = max(float(v.std(ddof=1)), NOISE_FLOOR if metric.relative else 0.0)
    diff = x - mean
    p, q = _prediction(diff, spread, n, alpha)
    low, high = diff - q, diff + q
    base = float(np.exp(mean)) if metric.relative else float(np.median(values))
    if metric.relative:
        ratio, low, high = math.exp(diff), math.exp(low), math.exp(high)
        change = ratio - 1.0
    else:
        ratio = change = float(new) - base
        low, high = low + (mean - base), high + (mean - base)
    return Decision(metric.name, _verdict(metric, change, threshold, p < alpha), base, float(new),
                    ratio, low, high, p, threshold, 1, n, level=1 - alpha)


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
