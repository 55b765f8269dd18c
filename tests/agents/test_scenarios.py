"""Load scenarios on real engines: offline, server (Poisson), find-peak, --until-stable."""

import json
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from scipy import stats

from agents.engines import get_engine
from agents.engines.base import Artifact
from agents.engines.pool import ThreadRequestPool
from agents.harness import poisson_arrivals_ns
from agents.runner import run_job
from agents.spec import JobSpec, RunLength, Scenario
from agents.stats import median_ci_pct
from agents.stopping import StopRule, early_stopping_min_queries, effective_length


def _run(job_for, path, engine, scenario, length=None, options=None):
    spec = job_for(path, engine, options=options or {"threads": 1}, scenario=scenario,
                   accuracy_check=False)
    if length is not None:
        spec.run = length
    result = run_job(spec)
    assert result.status == "ok", (result.error, result.traceback)
    return result


# Arrival times ---------------------------------------------------------------------------

def test_poisson_arrivals_have_the_rate_and_dispersion_of_a_poisson_process():
    qps = 250.0
    times = poisson_arrivals_ns(np.random.default_rng(7), qps, 20_000)
    gaps_s = np.diff(np.concatenate([[0], times])) / 1e9
    assert abs(gaps_s.mean() * qps - 1) < 0.03            # mean gap 1/qps, within 3 %
    assert abs(gaps_s.std() / gaps_s.mean() - 1) < 0.03   # exponential: CV = 1
    assert stats.kstest(gaps_s, "expon", args=(0, 1 / qps)).pvalue > 0.01
    counts = np.bincount((times // 1_000_000_000).astype(int))[:-1]  # arrivals per whole second
    assert abs(counts.var() / counts.mean() - 1) < 0.35    # Poisson counts: variance = mean


def test_arrivals_are_reproducible_from_the_seed_and_continue_after_a_chunk():
    a = poisson_arrivals_ns(np.random.default_rng(3), 100.0, 5)
    b = poisson_arrivals_ns(np.random.default_rng(3), 100.0, 5)
    np.testing.assert_array_equal(a, b)
    later = poisson_arrivals_ns(np.random.default_rng(3), 100.0, 5, after_ns=int(a[-1]))
    assert np.all(np.diff(a) > 0) and later[0] > a[-1]


# Early stopping and run length ----------------------------------------------------------

def test_early_stopping_minimum_matches_mlperf_and_the_binomial_tail():
    assert early_stopping_min_queries(90) == 64 and early_stopping_min_queries(99) == 662
    for pct, overlatency in [(95, 1), (99.9, 1), (99, 0), (99, 7)]:
        n, q = early_stopping_min_queries(pct, overlatency), 1 - pct / 100
        assert stats.binom.cdf(overlatency, n, q) <= 0.01 < stats.binom.cdf(overlatency, n - 1, q)


def _checks(rule, blocks, per_block=200, jitter=0.001):
    """Feed `rule` one block of samples per check (0.1 s apart); return the first stop reason."""
    rng, samples = np.random.default_rng(1), []
    for i, level_ns in enumerate(blocks):
        samples += list((level_ns * (1 + jitter * rng.standard_normal(per_block))).astype(np.int64))
        reason = rule.check(int((i + 1) * 1e8), samples)
        if reason:
            return reason, i + 1, samples
    return "", len(blocks), samples


def test_until_stable_needs_the_early_stopping_count_for_the_reported_percentile():
    length = RunLength(min_iterations=10, min_duration_s=30.0, max_duration_s=60.0)
    server = effective_length(length, Scenario("server", target_qps=10, until_stable_pct=1.0))
    assert server.min_iterations == 662 and server.min_duration_s == 0.0
    reason, checks, samples = _checks(StopRule(server, 0, until_stable=True), [1_000_000] * 20, per_block=100)
    assert reason == "until-stable" and len(samples) == 700 and checks == 7  # long before 30 s
    single = effective_length(length, Scenario(until_stable_pct=1.0))
    assert single.min_iterations == 64
    reason, checks, _ = _checks(StopRule(single, 0, until_stable=True), [1_000_000] * 20)
    assert reason == "until-stable" and checks == 5  # 5 blocks, each a check interval


def test_until_stable_does_not_stop_while_the_latency_drifts():
    length = effective_length(RunLength(max_duration_s=3.0), Scenario(until_stable_pct=1.0))
    drifting = [1_000_000 * (1 + 0.01 * i) for i in range(29)]  # +1 % every 0.1 s
    rule = StopRule(length, 0, until_stable=True)
    reason, _, samples = _checks(rule, drifting, per_block=2000)
    # 58,000 samples make the order-statistics CI tiny; the block medians do not agree.
    assert median_ci_pct(np.asarray(samples)) < 1.0 < rule.blocks_ci_pct()
    assert reason == "" and rule.report()["time_to_stable_s"] is None


# Request pools -------------------------------------------------------------------------

class _Counting:
    """An `infer` that records how many calls overlap."""

    def __init__(self):
        self.now = self.most = 0
        self.lock = threading.Lock()

    def __call__(self, prepared):
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        time.sleep(0.01)
        with self.lock:
            self.now -= 1
        return prepared


@pytest.mark.parametrize("serialize, expected", [(False, 3), (True, 1)])
def test_thread_pool_keeps_requests_in_flight_unless_infer_is_not_thread_safe(serialize, expected):
    infer, done = _Counting(), []
    with ThreadRequestPool(infer, 3, serialize=serialize) as pool:
        for i in range(12):
            pool.submit(i, lambda t0, t1, out: done.append((out, t1 - t0)))
        pool.wait_all()
    assert infer.most == expected and sorted(o for o, _ in done) == list(range(12))
    assert all(lat >= 9_000_000 for _, lat in done)


def test_a_session_that_is_not_thread_safe_runs_serialized_and_the_run_says_so(model_file, job_for, monkeypatch):
    from agents.engines.onnxruntime.engine import OrtSession
    # The real engine, declared as a plug-in session that does not override the pool would be.
    monkeypatch.setattr(OrtSession, "thread_safe_infer", False)
    result = _run(job_for, model_file("mlp"), "onnxruntime", Scenario("offline", concurrency=2))
    assert "requests-serialized" in result.flags
    assert "serialized" in result.environment["scenario"]["mechanism"]


def test_thread_pool_raises_an_inference_error_to_the_caller():
    def infer(prepared):
        raise RuntimeError("engine exploded")
    pool = ThreadRequestPool(infer, 2)
    pool.submit(0, lambda *a: None)
    with pytest.raises(RuntimeError, match="engine exploded"):
        pool.wait_all()
    pool.close()


@pytest.mark.parametrize("engine, options", [("onnxruntime", {"threads": 1}),
                                             ("openvino", {"hint": "THROUGHPUT", "threads": 2})])
def test_pool_outputs_match_synchronous_inference(model_file, engine, options):
    eng = get_engine(engine)
    path = model_file("mlp")
    session = eng.load(Artifact(str(path), "fp32"), eng.options(options), {})
    rng = np.random.default_rng(0)
    prepared = [session.prepare({"input": rng.standard_normal((1, 256), dtype=np.float32)})
                for _ in range(6)]
    expected = [session.to_numpy(session.infer(p))[0].copy() for p in prepared]
    got = {}
    with session.request_pool(2) as pool:
        for i, p in enumerate(prepared * 3):
            pool.submit(p, lambda t0, t1, out, i=i: got.setdefault(i, session.to_numpy(out)[0].copy()))
        pool.wait_all()
    session.close()
    assert len(got) == 18
    for i, out in got.items():
        np.testing.assert_allclose(out, expected[i % 6], rtol=1e-5, atol=1e-6)


# Scenarios end to end ------------------------------------------------------------------

def test_offline_with_two_requests_keeps_two_in_flight(model_file, job_for):
    path = model_file("resnet")
    length = RunLength(warmup_iterations=5, warmup_s=0.2, min_iterations=50, min_duration_s=1.0,
                       max_duration_s=5.0)
    single = _run(job_for, path, "onnxruntime", Scenario(), length)
    offline = _run(job_for, path, "onnxruntime", Scenario("offline", concurrency=2), length)
    m = offline.metrics
    assert m["requests_in_flight"] == 2 and offline.environment["scenario"]["label"] == "offline b1 x2"
    # How much faster two requests are is measured in benchmarks/ (docs/PERFORMANCE.md), not
    # asserted here: on a shared 2-core machine a timing bound is a coin toss.
    assert single.metrics.get("requests_in_flight", 1) == 1 and m["inferences_per_s"] > 0
    assert m["iterations"] == offline.latencies_ns().size


def test_offline_openvino_uses_its_async_queue_and_counts_samples(model_file, job_for):
    path = model_file("mlp", batch=None)
    spec = job_for(path, "openvino", options={"threads": 2}, accuracy_check=False,
                   scenario=Scenario("offline", batch=4))
    spec.inputs.shapes = {"input": [4, 256]}
    result = run_job(spec)
    assert result.status == "ok", result.error
    m, env = result.metrics, result.environment["scenario"]
    assert "AsyncInferQueue" in env["mechanism"] and result.engine_config["performance_hint"] == "THROUGHPUT"
    assert m["requests_in_flight"] == result.engine_config["optimal_number_of_infer_requests"]
    assert m["streams"] == result.engine_config["num_streams"]
    assert m["samples_per_s"] == pytest.approx(4 * m["inferences_per_s"])
    assert m["throughput_ips"] == pytest.approx(m["samples_per_s"])
    assert "throughput mode" in env["latency_kind"]


def test_server_latency_counts_the_wait_for_a_free_request(model_file, job_for):
    path = model_file("resnet")
    length = RunLength(warmup_iterations=5, warmup_s=0.1, min_iterations=50, min_duration_s=1.0,
                       max_duration_s=5.0)
    single = _run(job_for, path, "onnxruntime", Scenario(), length)
    capacity = single.metrics["inferences_per_s"]
    light = _run(job_for, path, "onnxruntime",
                 Scenario("server", concurrency=1, target_qps=capacity / 10, latency_bound_ms=1000), length)
    heavy = _run(job_for, path, "onnxruntime",
                 Scenario("server", concurrency=1, target_qps=capacity * 3, latency_bound_ms=1000), length)
    service_ms = single.metrics["latency_p50_ms"]
    assert light.metrics["queries_missed"] == 0
    assert abs(light.metrics["offered_qps"] / light.metrics["target_qps"] - 1) < 0.5
    # Three times more arrivals than one request can serve: the queue grows, and counts.
    assert heavy.metrics["latency_p50_ms"] > 5 * service_ms
    assert heavy.environment["scenario"]["label"] == f"server {capacity * 3:.4g} qps"
    assert "noisy" not in heavy.flags  # a wide spread under overload is the answer, not noise


def test_find_peak_converges_and_reports_every_step(model_file, job_for):
    length = RunLength(warmup_iterations=5, warmup_s=0.1, min_iterations=30, min_duration_s=0.3,
                       max_duration_s=3.0)
    scenario = Scenario("server", concurrency=2, latency_bound_ms=50.0, find_peak=True,
                        peak_steps=8, peak_tolerance_pct=10.0)
    result = _run(job_for, model_file("resnet"), "onnxruntime", scenario, length)
    peak = result.environment["scenario"]["find_peak"]
    steps, m = peak["steps"], result.metrics
    assert 1 <= len(steps) <= 8 and m["peak_steps"] == len(steps)
    assert all(s["passed"] == (s["p99_ms"] <= 50.0) for s in steps)
    assert m["peak_qps"] == max(s["qps"] for s in steps if s["passed"])
    assert peak["converged"] and m["peak_qps"] >= 0.3 * peak["capacity_qps"]
    assert m["latency_p99_ms"] <= 50.0  # the stored latencies are the peak's
    assert result.environment["scenario"]["label"] == f"server peak {m['peak_qps']:.4g} qps"


def test_until_stable_stops_before_the_fixed_run_length_and_reports_its_interval(model_file, job_for):
    # ±2 %, not 1 %: on a shared 2-core machine the 0.1 s blocks of a fast model can vary by
    # several %, and the block interval then needs (t * spread / pct)^2 blocks to close.
    length = RunLength(warmup_iterations=10, warmup_s=0.2, min_iterations=64, min_duration_s=20.0,
                       max_duration_s=30.0)
    result = _run(job_for, model_file("mlp"), "onnxruntime", Scenario(until_stable_pct=2.0), length)
    m = result.metrics
    assert result.environment["stopped_by"] == "until-stable"
    assert 0.5 <= m["time_to_stable_s"] < 20.0 and m["measure_s"] < 20.0
    assert m["median_ci95_pct"] <= 2.0 and m["median_blocks_ci95_pct"] <= 2.0 and m["stable_blocks"] >= 5
    assert m["iterations"] >= m["early_stopping_min_queries"] == 64 and m["until_stable_pct"] == 2.0


def test_bad_scenario_in_a_jobspec_is_a_model_error_with_the_reason(model_file, job_for):
    result = run_job(job_for(model_file("mlp"), "onnxruntime", scenario=Scenario("server")))
    assert result.status == "model-error" and "target qps" in result.error


def test_agent_runs_a_server_scenario_from_the_jobspec_alone(model_file, job_for):
    spec = job_for(model_file("mlp"), "onnxruntime", options={"threads": 1},
                   scenario=Scenario("server", target_qps=300.0, latency_bound_ms=100.0, seed=5))
    out = subprocess.run([sys.executable, "-m", "agents", "run", "-"], input=spec.to_json(),
                         capture_output=True, text=True, timeout=120)
    result = json.loads(out.stdout)
    assert result["status"] == "ok", result.get("error")
    assert result["environment"]["scenario"]["label"] == "server 300 qps"
    assert result["metrics"]["target_qps"] == 300.0 and result["metrics"]["queries_missed"] is not None


def test_a_v2_jobspec_without_the_scenario_fields_still_reads():
    # A record as written before the scenario settings existed (same schema version).
    old = {"schema_version": 2, "job_id": "j", "model": {"path": "/m", "sha256": "0" * 64},
           "variant": {"engine": "onnxruntime", "precision": "fp32", "options": {}},
           "scenario": {"name": "offline", "batch": 8, "concurrency": 4, "target_qps": None}}
    spec = JobSpec.from_dict(old)
    assert spec.scenario == Scenario("offline", batch=8, concurrency=4)
    assert spec.scenario.until_stable_pct is None and spec.scenario.find_peak is False
