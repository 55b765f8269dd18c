"""The timing loops, driven by a fake clock and a fake session so that run length is exact."""

import numpy as np
import pytest

from agents import harness
from agents.engines.base import Session
from agents.spec import RunLength
from agents.stats import median_ci_pct, summarize


class FakeClock:
    """Advances only when the fake session 'runs', by the latency it is told."""

    def __init__(self):
        self.now = 1_000_000_000

    def __call__(self) -> int:
        return self.now


class FakeSession(Session):
    def __init__(self, clock: FakeClock, latencies_ns):
        self.clock, self.latencies, self.calls, self.inputs, self.outputs = clock, latencies_ns, [], [], []

    def prepare(self, feeds):
        return feeds["id"]

    def infer(self, prepared):
        self.clock.now += self.latencies[len(self.calls) % len(self.latencies)]
        self.calls.append(prepared)
        return object()

    def to_numpy(self, outputs):
        return []

    def optimal_requests(self):
        return 1

    def resolved_config(self):
        return {}

    def close(self):
        pass


def _run(length, latencies=(1_000_000,), sets=4):
    clock = FakeClock()
    session = FakeSession(clock, list(latencies))
    prepared = [session.prepare({"id": i}) for i in range(sets)]
    return session, harness.measure_single_stream(session, prepared, length, clock=clock)


def test_stops_after_min_duration_when_iterations_are_reached():
    session, m = _run(RunLength(min_iterations=10, min_duration_s=1.0, max_duration_s=10))
    # 1 ms per call: at least 1000 calls; the stop check runs every 100 ms of fake time.
    assert 1000 <= m.samples_ns.size <= 1101
    assert m.stopped_by == "min-length"
    assert np.all(m.samples_ns == 1_000_000)


def test_min_iterations_extend_a_short_run():
    _, m = _run(RunLength(min_iterations=500, min_duration_s=0.01, max_duration_s=10),
                latencies=(10_000_000,))
    assert 500 <= m.samples_ns.size <= 510 and m.stopped_by == "min-length"


def test_max_duration_caps_the_run():
    _, m = _run(RunLength(min_iterations=10**9, min_duration_s=1.0, max_duration_s=2.0))
    assert m.stopped_by == "max-duration"
    assert 2.0 <= m.wall_s <= 2.2


def test_input_sets_are_rotated():
    session, _ = _run(RunLength(min_iterations=40, min_duration_s=0.0001, max_duration_s=1), sets=4)
    assert session.calls[:8] == [0, 1, 2, 3, 0, 1, 2, 3]


def test_stops_early_once_the_median_ci_is_tight():
    length = RunLength(min_iterations=100, min_duration_s=0.5, max_duration_s=100, target_ci_pct=1.0)
    _, m = _run(length, latencies=(1_000_000, 1_001_000, 999_000))
    assert m.stopped_by == "ci-target" and m.wall_s < 1.0


def test_noisy_run_keeps_going_until_ci_or_max():
    rng = np.random.default_rng(0)
    noisy = list(rng.integers(100_000, 10_000_000, 5000))
    length = RunLength(min_iterations=10, min_duration_s=0.1, max_duration_s=3, target_ci_pct=0.01)
    _, m = _run(length, latencies=noisy)
    assert m.stopped_by == "max-duration"


def test_warm_up_needs_iterations_and_seconds():
    clock = FakeClock()
    session = FakeSession(clock, [10_000_000])
    iters, secs = harness.warm_up(session, [1], RunLength(warmup_iterations=5, warmup_s=0.2), clock=clock)
    assert iters == 20 and secs == pytest.approx(0.2)


def test_summary_percentiles_come_from_the_samples():
    samples = np.arange(1, 1001, dtype=np.int64) * 1_000_000  # 1..1000 ms
    m = summarize(samples, wall_s=10.0)
    assert m["latency_p50_ms"] == pytest.approx(500.5)
    assert m["latency_p99_ms"] == pytest.approx(990.01)
    assert m["latency_min_ms"] == 1 and m["latency_max_ms"] == 1000
    assert m["throughput_ips"] == pytest.approx(100.0)
    assert m["latency_cv"] == pytest.approx(m["latency_std_ms"] / m["latency_mean_ms"])


def test_median_ci_shrinks_with_more_samples():
    rng = np.random.default_rng(1)
    small = rng.normal(1e6, 1e5, 100).astype(np.int64)
    large = rng.normal(1e6, 1e5, 10_000).astype(np.int64)
    assert median_ci_pct(large) < median_ci_pct(small)
    assert median_ci_pct(small[:5]) is None
