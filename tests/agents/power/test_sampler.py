"""The sampler and the window arithmetic, with scripted sensors on a real thread."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pytest

from agents.errors import SensorUnavailable, UserError
from agents.power.base import PowerSensor, Reading
from agents.power.sampler import METRICS, OFF_REASON, Sampler, open_sampler
from agents.power.window import Series, downsample, window_energy_j

S = 1_000_000_000


@dataclass
class _Opts:
    watts: float = 10.0


class RampSensor(PowerSensor):
    """Rail `a` is a counter at `watts`, rail `b` reports a constant 2 W (not summed unless
    asked); both computed from the real clock, so any window has a known energy."""

    name = "ramp"
    Options = _Opts

    def __init__(self, options=_Opts(), min_interval_s=0.001, fail_after: int | None = None,
                 summed=("a",)):
        self.options, self._min = options, min_interval_s
        self._fail_after, self._summed = fail_after, summed
        self.t0, self.reads, self.closed = time.perf_counter_ns(), 0, False

    @property
    def min_interval_s(self):
        return self._min

    def rails(self):
        return ["a", "b"]

    def summed_rails(self):
        return list(self._summed)

    def read(self):
        self.reads += 1
        if self._fail_after is not None and self.reads > self._fail_after:
            raise SensorUnavailable("ramp", "sensor unplugged")
        t = time.perf_counter_ns()
        return Reading(t_ns=t, energy_j={"a": self.options.watts * (t - self.t0) / S},
                       power_w={"b": 2.0}, extra={"gpu_memory_peak_mb": float(self.reads)})

    def close(self):
        self.closed = True


def _run(sampler: Sampler, before=0.05, during=0.3, after=0.05):
    sampler.start()
    time.sleep(before)
    start = time.perf_counter_ns()
    time.sleep(during)
    end = time.perf_counter_ns()
    time.sleep(after)
    sampler.stop()
    return start, end


def test_counter_is_interpolated_at_the_window_edges():
    series = Series(np.array([0, S, 2 * S, 3 * S]), np.array([0.0, 10.0, 20.0, 30.0]), "energy")
    assert window_energy_j(series, S // 2, 5 * S // 2) == pytest.approx(20.0)


def test_power_is_integrated_with_interpolated_edges():
    # A ramp from 0 W to 30 W over 3 s: the energy in [0.5, 2.5] s is exactly 30 J.
    series = Series(np.array([0, S, 2 * S, 3 * S]), np.array([0.0, 10.0, 20.0, 30.0]), "power")
    assert window_energy_j(series, S // 2, 5 * S // 2) == pytest.approx(30.0)


def test_a_window_the_samples_do_not_cover_is_refused():
    series = Series(np.array([S, 2 * S]), np.array([0.0, 1.0]), "energy")
    with pytest.raises(ValueError, match="samples cover"):
        window_energy_j(series, 0, 2 * S)


def test_downsampling_keeps_the_mean():
    t = np.arange(10_000, dtype=float)
    v = np.sin(t / 100) + 5
    t2, v2 = downsample(t, v, 500)
    assert t2.size == 500 and v2.mean() == pytest.approx(v.mean(), rel=1e-3)


def test_metrics_over_a_window():
    sampler = Sampler(RampSensor(_Opts(watts=12.0)), rate_hz=100)
    assert sampler.measure_idle(0.2) == pytest.approx(12.0, rel=1e-3)
    start, end = _run(sampler)
    m = sampler.window_metrics(start, end, inferences=600)
    assert m["energy_j"] == pytest.approx(12.0 * (end - start) / S, rel=1e-3)
    assert m["power_avg_w"] == pytest.approx(12.0, rel=1e-3)
    assert m["power_idle_w"] == pytest.approx(12.0, rel=1e-3)
    assert m["power_dynamic_w"] == pytest.approx(0.0, abs=0.05)
    assert m["energy_per_inference_j"] == pytest.approx(m["energy_j"] / 600)
    assert m["inferences_per_j"] == pytest.approx(600 / m["energy_j"])
    assert m["power_rails"] == ["a"] and m["power_reason"] is None
    assert m["power_samples"] >= 10
    assert m["gpu_memory_peak_mb"] is not None


def test_mixed_counter_and_power_rails_add_up():
    sampler = Sampler(RampSensor(_Opts(watts=5.0), summed=("a", "b")), rate_hz=100)
    start, end = _run(sampler)
    m = sampler.window_metrics(start, end, inferences=1)
    assert m["power_avg_w"] == pytest.approx(7.0, rel=1e-3)
    assert m["power_method"] == "counter+trapezoid"


def test_no_sensor_gives_none_with_reason_never_zero():
    sampler = open_sampler("none")
    sampler.measure_idle(1.0)
    start, end = _run(sampler, 0, 0.01, 0)
    m = sampler.window_metrics(start, end, inferences=100)
    assert all(m[k] is None for k in METRICS)
    assert m["power_reason"] == OFF_REASON == "power sampling off"
    assert sampler.trace() is None


def test_unusable_sensor_keeps_its_reason(tmp_path):
    sampler = open_sampler("rapl", {"root": str(tmp_path)})
    assert sampler.sensor is None
    m = sampler.window_metrics(0, S, inferences=1)
    assert m["energy_j"] is None and m["power_reason"].startswith("rapl: no intel-rapl")


def test_rate_is_capped_by_the_sensor():
    assert Sampler(RampSensor(min_interval_s=0.1), rate_hz=20).rate_hz == pytest.approx(10.0)
    assert Sampler(RampSensor(min_interval_s=0.01), rate_hz=20).rate_hz == pytest.approx(20.0)
    with pytest.raises(UserError, match="rate_hz must be > 0"):
        open_sampler("none", rate_hz=0)


def test_sampling_rate_is_roughly_what_was_asked():
    sampler = Sampler(RampSensor(), rate_hz=20)
    start, end = _run(sampler, 0, 1.0, 0)
    # 20 Hz for ~1 s, plus the first and last samples; generous bounds: only gross errors fail.
    assert 10 <= len(sampler.samples()) <= 30


def test_sensor_failure_mid_run_becomes_the_reason():
    sampler = Sampler(RampSensor(fail_after=3), rate_hz=100)
    start, end = _run(sampler)
    m = sampler.window_metrics(start, end, inferences=10)
    assert m["energy_j"] is None
    assert "sensor unplugged" in m["power_reason"]
    assert sampler.describe()["error"] == "sensor unplugged"


def test_idle_off_and_zero_inferences():
    sampler = Sampler(RampSensor(), rate_hz=50)
    assert sampler.measure_idle(0) is None
    assert "idle_s = 0" in sampler.describe()["idle_reason"]
    start, end = _run(sampler)
    m = sampler.window_metrics(start, end, inferences=0)
    assert m["energy_j"] > 0 and m["power_dynamic_w"] is None
    assert m["energy_per_inference_j"] is None and m["inferences_per_j"] is None


def test_trace_is_downsampled_with_the_window_marked():
    sampler = Sampler(RampSensor(_Opts(watts=4.0)), rate_hz=200)
    start, end = _run(sampler, 0.05, 0.6, 0.05)
    trace = sampler.trace(max_points=20, window=(start, end))
    assert len(trace["t_s"]) == len(trace["power_w"]) == 20
    assert set(trace["rails"]) == {"a", "b"} and len(trace["rails"]["b"]) == 20
    assert trace["power_w"] == pytest.approx([4.0] * 20, rel=0.02)
    assert trace["rails"]["b"] == pytest.approx([2.0] * 20)
    assert 0 < trace["window_s"][0] < trace["window_s"][1] <= trace["t_s"][-1] + 0.05
    assert trace["t_s"] == sorted(trace["t_s"])


def test_close_stops_and_closes_the_sensor():
    sensor = RampSensor()
    sampler = Sampler(sensor, rate_hz=50)
    sampler.start()
    sampler.close()
    reads = sensor.reads
    time.sleep(0.1)
    assert sensor.closed and sensor.reads == reads
