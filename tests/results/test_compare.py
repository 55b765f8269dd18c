"""The decision rule on synthetic distributions with exact expectations: the run is the unit of
evidence (tonight's run median outside the baseline runs' prediction interval AND past the
threshold, block medians as a second gate), and per-run metrics across runs."""

import math

import numpy as np
import pytest
from scipy import stats

from results.compare import (IMPROVEMENT, INCONCLUSIVE, METRICS, REGRESSION, UNCHANGED, Decision,
                             Rule, agrees, applies, block_sign_p, judge_samples, judge_values,
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
    assert d.p_value > 0.5 and d.low < 1.0 < d.high and d.level == 0.99
    assert (d.n_new, d.n_baseline_runs) == (2000, 5)


@pytest.mark.parametrize("scale, verdict", [(1.10, REGRESSION), (0.90, IMPROVEMENT),
                                            (1.03, UNCHANGED), (0.97, UNCHANGED)])
def test_ten_percent_shift_is_flagged_three_percent_is_not(scale, verdict):
    d = judge_samples(run_samples(seed=9) * scale, baseline(), 0.05, 0.001)
    assert d.ratio == pytest.approx(scale, rel=1e-12)
    # five baseline runs that agree: even 3 % lies outside their prediction interval (the
    # interval that decided excludes 1), and the threshold is what stops it
    assert d.p_value < 0.01 and not d.low < 1.0 < d.high
    assert d.verdict == verdict
    assert d.low < scale < d.high
    assert d.note == f"32 of 32 block medians {'above' if scale > 1 else 'below'} the baseline (sign test p 4.7e-10)"


def test_drift_that_moves_whole_runs_is_not_a_change():
    # The A/A night: a noisy machine whose runs land 15 % apart; tonight -14 %. Its
    # raw samples against the pooled baseline's look wildly different to a test that takes
    # iterations for independent evidence; the runs say the machine does this anyway.
    runs = baseline((1.0, 0.85, 1.1))
    tonight = run_samples(0.86, seed=9)
    assert stats.mannwhitneyu(tonight, np.concatenate(runs)).pvalue < 1e-12
    d = judge_samples(tonight, runs, 0.05, 0.001)
    assert d.ratio == pytest.approx(0.86) and d.verdict == UNCHANGED
    assert d.low < 1.0 < d.high and d.p_value > 0.01  # the interval that decided holds 1


def test_fewer_baseline_runs_need_a_larger_change():
    # The same run-to-run spread: 3 runs cannot tell +8 % from noise, 9 runs can.
    spread = (1.0, 1.02, 0.98)
    few = judge_samples(run_samples(1.08, seed=9), baseline(spread), 0.05, 0.001)
    many = judge_samples(run_samples(1.08, seed=9), baseline(spread * 3), 0.05, 0.001)
    assert few.verdict == UNCHANGED and few.low < 1.0
    assert many.verdict == REGRESSION and many.low > 1.0
    one = judge_samples(run_samples(1.5, seed=9), baseline((1.0,)), 0.05, 0.001)
    assert one.verdict == INCONCLUSIVE and one.ratio == pytest.approx(1.5)
    assert one.note.startswith("1 baseline run: its run-to-run noise is unknown")


def test_a_burst_in_half_of_tonights_run_is_not_a_slower_run():
    # Half the run 30 % slower (a neighbour loaded the machine for a while): the run median
    # moves past the threshold and out of the prediction interval, but the block medians of
    # the first half sit on both sides of the baseline: the second gate holds.
    tonight = np.concatenate([run_samples(1.0, 1000, seed=7), run_samples(1.3, 1000, seed=8)])
    d = judge_samples(tonight, baseline(), 0.05, 0.001)
    assert d.ratio > 1.05 and d.p_value < 0.01
    assert d.verdict == UNCHANGED and d.note.startswith("2") and "of 32 block medians above" in d.note
    # the same slowdown over the whole run is a regression
    assert judge_samples(run_samples(1.3, seed=8), baseline(), 0.05, 0.001).verdict == REGRESSION


def test_a_shift_past_the_threshold_needs_enough_samples_for_the_second_gate():
    # 12 % slower, but five samples a run: no block of 20 samples, so nothing is flagged
    few = judge_samples(run_samples(n=5) * 1.12, [run_samples(n=5, seed=i) for i in range(5)], 0.05, 0.5)
    assert few.ratio == pytest.approx(1.12) and few.verdict == UNCHANGED
    assert few.note == "too few samples for block medians"
    assert judge_samples(run_samples() * 1.12, baseline(), 0.05, 0.001).verdict == REGRESSION


@pytest.mark.parametrize("above, below", [(32, 0), (26, 6), (25, 7), (16, 16), (3, 29)])
def test_block_sign_test_matches_scipy(above, below):
    x = np.repeat(np.r_[np.full(above, 2.0), np.full(below, 0.5)], 20)
    p, side, blocks = block_sign_p(x, 1.0)
    assert (side, blocks) == (max(above, below), 32)
    assert p == pytest.approx(stats.binomtest(above, 32).pvalue, rel=1e-9)
    assert block_sign_p(np.ones(19), 1.0) == (1.0, 0, 0)


def test_one_odd_baseline_run_does_not_move_the_baseline_median():
    # A process that landed in a 20 % faster mode for its whole life, once in five runs.
    d = judge_samples(run_samples(seed=9), baseline((1.0, 0.8, 1.0, 1.0, 1.0)), 0.05, 0.001)
    assert d.baseline == pytest.approx(1.0) and d.ratio == pytest.approx(1.0)
    assert d.verdict == UNCHANGED
    # ... but its run-to-run spread widens the prediction interval
    steady = judge_samples(run_samples(seed=9), baseline(), 0.05, 0.001)
    assert d.high - d.low > steady.high - steady.low


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
    assert drop.high < 1.0 and drop.level == 0.99  # the 99 % prediction interval decided
    assert drop.worse_by == pytest.approx(1 - drop.ratio)
    assert judge_values(1200.0, base, thr, 0.05, 0.01).verdict == IMPROVEMENT
    assert judge_values(1003.0, base, thr, 0.05, 0.01).verdict == UNCHANGED


def test_a_per_run_change_inside_the_baseline_spread_is_not_significant():
    # 20 % lower, but the baseline runs themselves spread by +-30 %: within its prediction interval.
    d = judge_values(800.0, [700.0, 1300.0, 1000.0, 900.0, 1150.0], METRICS["throughput"], 0.05, 0.01)
    assert d.ratio < 0.85 and d.p_value > 0.01 and d.verdict == UNCHANGED and d.low < 1.0 < d.high


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
