"""One series of a nightly judged against its baseline, without I/O: toolchain changes start a
new baseline, a flag needs a confirmation re-run that agrees, the exit code."""

import numpy as np
import pytest
from scipy import stats

from agents.spec import JobSpec, ModelRef, RunResult, Variant
from orchestrator.nightly.judge import SeriesNight, decide, judge, member_flags, settle
from orchestrator.nightly.run import exit_code
from results.baseline import device_state, reference_sample, toolchain
from results.compare import Rule
from results.verdicts import SeriesRun

ENV = {"engine": "onnxruntime", "engine_version": "1.32.0", "agent_version": "0.1.0",
       "python": "3.11.7", "cpu_model": "EPYC", "cpu_affinity": 2}


def _result(median_ms: float, env: dict | None = None, seed: int = 0, sha: str = "a" * 64) -> RunResult:
    spec = JobSpec(job_id="j", model=ModelRef("/m.onnx", sha, name="m"), variant=Variant("onnxruntime"))
    q = (np.arange(3000) + 0.5) / 3000
    samples = np.random.default_rng(seed).permutation(median_ms * np.exp(0.05 * stats.norm.ppf(q)))
    r = RunResult(job_id="j", status="ok", job=spec, environment=dict(env or ENV),
                  metrics={"peak_rss_mb": 150.0})
    r.set_latencies_ns((samples * 1e6).astype(np.int64))
    return r


def _member(median_ms: float = 1.0, env: dict | None = None, seed: int = 1) -> SeriesRun:
    r = _result(median_ms, env, seed)
    return SeriesRun(suite="s", series="x", title="x", nightly_id="n", run_id=seed, created_s=0.0,
                     model_sha256=r.job.model.sha256, toolchain=toolchain(r), device_state=device_state(r),
                     peak_rss_mb=150.0 + seed * 0.5,
                     sample=reference_sample(r.latencies_ns() / 1e6), good=True)


def _night(result: RunResult | None, runs: int = 5, status: str = "ok") -> SeriesNight:
    night = SeriesNight(series="x", title="m · local · onnxruntime fp32", spec=_result(1.0).job,
                        job_id="j", rule=Rule(), metrics=("latency", "throughput", "memory"),
                        status=status, result=result, run_id=7,
                        baseline=[_member(seed=i) for i in range(1, runs + 1)])
    judge(night)
    return night


def test_same_model_is_unchanged_and_joins_the_baseline():
    night = _night(_result(1.0))
    assert night.state == "unchanged" and night.verdicts == {"latency": "unchanged", "memory": "unchanged"}
    assert "throughput" not in night.decisions  # single-stream: judged through latency
    assert member_flags(night, "alarm")[0] == {"good": True, "new_baseline": False}


def test_slowdown_is_a_candidate_until_the_rerun_agrees():
    night = _night(_result(1.10))
    assert night.state == "candidate" and night.candidates == ["latency"]
    assert night.decisions["latency"].ratio == pytest.approx(1.10, rel=0.01)
    night.confirmed = decide(night.rule, night.metrics, _result(1.09, seed=5), night.baseline, only=night.candidates)
    settle(night, confirm=True)
    assert night.state == "regression" and night.verdicts["latency"] == "regression"
    assert member_flags(night, "alarm") == ({"good": False, "new_baseline": False},
                                            {"good": False, "new_baseline": False})
    assert member_flags(night, "rebaseline")[0] == {"good": True, "new_baseline": True}
    assert exit_code([night]) == 1


def test_a_rerun_that_disagrees_leaves_an_unconfirmed_flag_not_a_regression():
    night = _night(_result(1.10))
    night.confirmed = decide(night.rule, night.metrics, _result(1.0, seed=5), night.baseline, only=night.candidates)
    settle(night, confirm=True)
    assert night.state == "unconfirmed" and night.verdicts["latency"] == "unconfirmed"
    tonight, rerun = member_flags(night, "alarm")
    assert not tonight["good"] and rerun["good"]  # the outlier stays out, the re-run joins
    assert exit_code([night]) == 0


def test_without_confirmation_a_flag_stands_and_a_failed_rerun_is_infra():
    night = _night(_result(0.85))
    settle(night, confirm=False)
    assert night.state == "improvement"
    flagged = _night(_result(1.2))
    flagged.confirm_error = "infra-error: board lost"
    settle(flagged, confirm=True)
    assert flagged.state == "unconfirmed" and "confirmation re-run failed: infra-error" in flagged.note
    assert exit_code([flagged]) == 2


def test_toolchain_change_is_reported_as_a_change_with_its_effect_not_a_regression():
    night = _night(_result(1.10, {**ENV, "engine_version": "1.33.0"}))
    assert night.state == "change" and set(night.verdicts.values()) == {"change"}
    assert night.change == "toolchain changed: onnxruntime 1.32.0 -> 1.33.0, p50 +10.0 %"
    assert member_flags(night, "alarm")[0] == {"good": True, "new_baseline": True}
    assert exit_code([night]) == 0


def test_device_state_change_starts_a_new_baseline_too():
    night = _night(_result(1.0, {**ENV, "cpu_affinity": 1}))
    assert night.state == "change" and night.change.startswith("device state changed: cpus 2 -> 1")


def test_short_baseline_is_being_built_and_failures_keep_their_kind():
    assert _night(_result(1.3), runs=0).state == "new"
    building = _night(_result(1.3), runs=2)
    assert building.state == "baseline" and set(building.verdicts.values()) == {"baseline"}
    assert _night(None, status="infra-error").state == "infra"
    assert _night(None, status="model-error").state == "broken"
    assert _night(None, status="skipped").state == "skipped"
    assert exit_code([_night(None, status="infra-error"), _night(None, status="model-error")]) == 1
    assert exit_code([_night(None, status="skipped")]) == 0


def test_a_new_model_export_is_judged_and_named():
    night = _night(_result(1.0, sha="b" * 64))
    assert night.state == "unchanged" and night.note == "model changed: sha256 aaaaaaaaaaaa -> bbbbbbbbbbbb"
