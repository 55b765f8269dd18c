"""The decision rule on synthetic distributions with exact expectations: a threshold AND a
strict test, on raw latencies (median ratio, Mann-Whitney U) and across runs (per-run metrics)."""

import math

import numpy as np
import pytest
from scipy import stats

from results.compare import (IMPROVEMENT, INCONCLUSIVE, METRICS, REGRESSION, UNCHANGED, Decision,
                             Rule, agrees, applies, judge_samples, judge_values, mann_whitney_p,
                             run_values)

LAT = METRICS["latency"]


def run_samples(median_ms: float = 1.0, n: int = 2000, seed: int = 0) -> np.ndarray:
    """A run's latencies: lognormal (sigma 0.05) around `median_ms`, whose median is exactly
    `median_ms` (the samples are its quantiles at evenly spaced ranks, shuffled)."""
    q = (np.arange(n) + 0.5) / n
    x = median_ms * np.exp(0.05 * stats.norm.ppf(q))
    return np.random.default_rng(seed).permutation(x)


def baseline(medians=(1.0, 1.0, 1.0, 1.0, 1.0)) -> list[np.ndarray]:
    return [run_samples(m, seed=i) for i, m in enumerate(medians)]


def test_identical_distributions_are_unchanged_with_ratio_exactly_one():
    d = judge_samples(run_samples(seed=9), baseline(), 0.05, 0.001)
    assert d.verdict == UNCHANGED
    assert d.ratio == pytest.approx(1.0, abs=1e-12)
    assert d.p_value > 0.5 and d.low < 1.0 < d.high
    assert (d.n_new, d.n_baseline_runs) == (2000, 5)


@pytest.mark.parametrize("scale, verdict", [(1.10, REGRESSION), (0.90, IMPROVEMENT),
                                            (1.03, UNCHANGED), (0.97, UNCHANGED)])
def test_ten_percent_shift_is_flagged_three_percent_is_not(scale, verdict):
    d = judge_samples(run_samples(seed=9) * scale, baseline(), 0.05, 0.001)
    assert d.ratio == pytest.approx(scale, rel=1e-12)
    assert d.p_value < 1e-10  # the U test sees even 3 %: the threshold is what stops it
    assert d.verdict == verdict
    assert d.low < scale < d.high


def test_a_shift_past_the_threshold_needs_a_significant_test():
    # 12 % slower, but five samples a side: the U test cannot reject at 0.001 (its smallest
    # two-sided p for 5 against 25 values is about 0.002), so nothing is flagged.
    few = judge_samples(run_samples(n=5) * 1.12, [run_samples(n=5, seed=i) for i in range(5)], 0.05, 0.001)
    assert few.ratio == pytest.approx(1.12) and few.p_value > 0.001
    assert few.verdict == UNCHANGED
    assert judge_samples(run_samples(n=5) * 1.12, [run_samples(n=5, seed=i) for i in range(5)],
                         0.05, 0.05).verdict == REGRESSION


def test_one_odd_baseline_run_does_not_move_the_baseline_median():
    # A process that landed in a 20 % faster mode for its whole life, once in five runs.
    d = judge_samples(run_samples(seed=9), baseline((1.0, 0.8, 1.0, 1.0, 1.0)), 0.05, 0.001)
    assert d.baseline == pytest.approx(1.0) and d.ratio == pytest.approx(1.0)
    assert d.verdict == UNCHANGED
    # ... but its run-to-run spread widens the reported interval
    assert d.high - d.low > judge_samples(run_samples(seed=9), baseline(), 0.05, 0.001).high - \
        judge_samples(run_samples(seed=9), baseline(), 0.05, 0.001).low


def test_per_suite_thresholds_change_the_verdict():
    new = run_samples(seed=9) * 1.07
    assert judge_samples(new, baseline(), 0.05, 0.001).verdict == REGRESSION
    assert judge_samples(new, baseline(), 0.08, 0.001).verdict == UNCHANGED
    rule = Rule().with_thresholds({"latency": 0.08})
    assert rule.thresholds["latency"] == 0.08 and rule.thresholds["memory"] == 0.10


def test_throughput_is_a_regression_when_it_drops():
    thr = METRICS["throughput"]
    base = [1000.0, 1010.0, 990.0, 1005.0, 995.0]
    drop = judge_values(850.0, base, thr, 0.05, 0.01)
    assert drop.verdict == REGRESSION and drop.ratio == pytest.approx(850 / math.exp(np.mean(np.log(base))))
    assert drop.worse_by == pytest.approx(1 - drop.ratio)
    assert judge_values(1200.0, base, thr, 0.05, 0.01).verdict == IMPROVEMENT
    assert judge_values(1003.0, base, thr, 0.05, 0.01).verdict == UNCHANGED


def test_a_per_run_change_inside_the_baseline_spread_is_not_significant():
    # 20 % lower, but the baseline runs themselves spread by +-30 %: within its prediction interval.
    d = judge_values(800.0, [700.0, 1300.0, 1000.0, 900.0, 1150.0], METRICS["throughput"], 0.05, 0.01)
    assert d.ratio < 0.85 and d.p_value > 0.01 and d.verdict == UNCHANGED


def test_accuracy_is_judged_on_absolute_differences():
    acc = METRICS["accuracy"]
    drop = judge_values(0.97, [1.0, 1.0, 1.0], acc, 0.01, 0.01)
    assert drop.verdict == REGRESSION and drop.ratio == pytest.approx(-0.03) and drop.p_value == 0.0
    assert judge_values(0.995, [1.0, 1.0, 1.0], acc, 0.01, 0.01).verdict == UNCHANGED


def test_too_little_to_judge_is_inconclusive():
    assert judge_values(5.0, [4.0], METRICS["memory"], 0.1, 0.01).verdict == INCONCLUSIVE
    assert judge_values(None, [4.0, 4.0], METRICS["memory"], 0.1, 0.01).note == "not measured"
    assert judge_samples(np.array([]), baseline(), 0.05, 0.001).verdict == INCONCLUSIVE


def test_confirmation_must_repeat_the_same_verdict():
    flagged = Decision("latency", REGRESSION)
    assert agrees(flagged, Decision("latency", REGRESSION))
    assert not agrees(flagged, Decision("latency", UNCHANGED))
    assert not agrees(flagged, Decision("latency", IMPROVEMENT))
    assert not agrees(Decision("latency", UNCHANGED), Decision("latency", UNCHANGED))


def test_run_values_prefer_top1_agreement_and_skip_missing_metrics():
    values = run_values({"throughput_ips": 10, "peak_rss_mb": 150.5, "accuracy_cosine_min": 0.999,
                         "accuracy_top1_agreement": 0.98, "energy_per_inference_j": None})
    assert values == {"latency_p50_ms": None, "throughput_ips": 10.0, "energy_per_inference_j": None,
                      "peak_rss_mb": 150.5, "accuracy": 0.98}
    assert run_values({"accuracy_cosine_min": 0.999})["accuracy"] == 0.999
    assert not applies("throughput", "single-stream") and applies("throughput", "offline")


@pytest.mark.parametrize("shift, ties", [(0.0, False), (0.02, False), (0.3, True), (0.0, True)])
def test_u_test_matches_scipy(shift, ties):
    rng = np.random.default_rng(3)
    x, y = rng.lognormal(shift, 0.2, 700), rng.lognormal(0, 0.2, 1300)
    if ties:  # a timer's resolution makes equal samples
        x, y = np.round(x, 1), np.round(y, 1)
    expected = stats.mannwhitneyu(x, y, alternative="two-sided", method="asymptotic").pvalue
    assert mann_whitney_p(x, y) == pytest.approx(expected, rel=1e-9, abs=1e-300)
