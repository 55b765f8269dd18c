"""run_job end to end on a real ONNX model with ONNX Runtime and fixture power sensors."""

from __future__ import annotations

from pathlib import Path

import pytest
from power_fixtures import CounterWriter, hwmon_device, put, rapl_tree

from agents.power.sampler import METRICS
from agents.runner import run_job
from agents.spec import PowerSpec, RunLength, RunResult
from agents.telemetry import Telemetry

LENGTH = RunLength(warmup_iterations=3, warmup_s=0.1, min_iterations=50, min_duration_s=0.5,
                   max_duration_s=5.0)


@pytest.fixture
def mlp_job(model_file, job_for):
    def make(power: PowerSpec, run: RunLength = LENGTH):
        job = job_for(model_file("mlp"), "onnxruntime", options={"threads": 1}, power=power)
        job.run = run
        return job
    return make


def test_rapl_energy_per_inference_matches_the_counter_rate(tmp_path, mlp_job):
    files = rapl_tree(tmp_path / "root")
    pkg, dram = files["package-0"], files["package-0/dram"]
    job = mlp_job(PowerSpec(sensor="rapl", options={"root": str(tmp_path / "root")},
                            rate_hz=50, idle_s=0.3))
    with CounterWriter({pkg: 4.0, dram: 1.0}) as writer:
        def progress(phase, fraction, iterations):
            if phase == "compile":  # idle is over: the "inference" draws 15 + 2 W from now on
                writer.set_watts(pkg, 15.0)
                writer.set_watts(dram, 2.0)
        result = run_job(job, progress)
    assert result.status == "ok", result.error
    m = result.metrics
    iterations, seconds = m["iterations"], (m["measure_end_ns"] - m["measure_start_ns"]) / 1e9
    assert m["energy_per_inference_j"] > 0
    assert m["power_avg_w"] == pytest.approx(17.0, rel=0.1)
    assert m["power_idle_w"] == pytest.approx(5.0, rel=0.1)
    assert m["power_dynamic_w"] == pytest.approx(12.0, rel=0.15)
    assert m["energy_j"] == pytest.approx(17.0 * seconds, rel=0.1)
    assert m["energy_per_inference_j"] == pytest.approx(m["energy_j"] / iterations)
    assert m["inferences_per_j"] == pytest.approx(iterations / m["energy_j"])
    power = result.environment["power"]
    assert power["sensor"] == "rapl" and power["method"] == "counter" and power["reason"] is None
    assert power["rails_summed"] == ["package-0", "package-0/dram"]
    assert power["options"] == {"root": str(tmp_path / "root"), "dram": True, "rails": None}
    assert result.phases_s["idle"] >= 0.3
    trace = result.power_trace
    assert 2 <= len(trace["t_s"]) <= 500 and len(trace["power_w"]) == len(trace["t_s"])
    assert trace["window_s"][1] - trace["window_s"][0] == pytest.approx(seconds, abs=1e-3)
    back = RunResult.from_json(result.to_json())
    assert back.power_trace == trace and back.metrics == result.metrics


def test_idle_above_the_run_is_flagged_as_drift_and_keeps_the_energy(tmp_path, mlp_job):
    """As seen on an H100: idle read while the board still cooled from earlier work (78 W), then
    less over the run (72 W). Energy and average stand; the dynamic power is flagged."""
    files = rapl_tree(tmp_path / "root")
    job = mlp_job(PowerSpec(sensor="rapl", options={"root": str(tmp_path / "root"), "dram": False},
                            rate_hz=50, idle_s=0.3))
    with CounterWriter({files["package-0"]: 78.0}) as writer:
        def progress(phase, fraction, iterations):
            if phase == "compile":
                writer.set_watts(files["package-0"], 72.0)
        result = run_job(job, progress)
    assert result.status == "ok", result.error
    # Under load the switch to 72 W can land a little inside the window: only the sign matters.
    assert result.metrics["power_dynamic_w"] < -0.02 * result.metrics["power_idle_w"]
    assert 71.0 < result.metrics["power_avg_w"] < 78.0
    assert "power-drift" in result.flags  # a power caveat, not a latency instability:
    assert not any("idle" in r for r in result.environment.get("unstable_reasons", []))
    assert "idle baseline drifted" in result.environment["power"]["drift_reason"]


def test_a_real_dynamic_power_is_not_flagged(tmp_path, mlp_job):
    files = rapl_tree(tmp_path / "root")
    job = mlp_job(PowerSpec(sensor="rapl", options={"root": str(tmp_path / "root"), "dram": False},
                            rate_hz=50, idle_s=0.3))
    with CounterWriter({files["package-0"]: 5.0}) as writer:
        def progress(phase, fraction, iterations):
            if phase == "compile":
                writer.set_watts(files["package-0"], 9.0)
        result = run_job(job, progress)
    assert result.status == "ok", result.error
    assert "power-drift" not in result.flags and "drift_reason" not in result.environment["power"]


def test_hwmon_power_channel_end_to_end(tmp_path, mlp_job):
    hwmon_device(tmp_path, 2, "psu", {"power1_input": 6_000_000, "power1_label": "12V"})
    result = run_job(mlp_job(PowerSpec(sensor="hwmon", options={"root": str(tmp_path)},
                                       idle_s=0.2)))
    assert result.status == "ok", result.error
    m = result.metrics
    seconds = (m["measure_end_ns"] - m["measure_start_ns"]) / 1e9
    assert m["energy_j"] == pytest.approx(6.0 * seconds, rel=1e-6)
    assert m["energy_per_inference_j"] == pytest.approx(6.0 * seconds / m["iterations"], rel=1e-6)
    assert result.environment["power"]["rails_summed"] == ["psu/12V"]
    assert result.environment["power"]["method"] == "trapezoid"


def test_power_off_leaves_none_with_the_reason(mlp_job):
    result = run_job(mlp_job(PowerSpec(sensor="none")))
    assert result.status == "ok", result.error
    assert all(k in result.metrics and result.metrics[k] is None for k in METRICS)
    assert result.environment["power"]["reason"] == "power sampling off"
    assert result.power_trace is None and "idle" not in result.phases_s


def test_sensor_missing_here_does_not_fail_the_run(tmp_path, mlp_job):
    result = run_job(mlp_job(PowerSpec(sensor="rapl", options={"root": str(tmp_path)})))
    assert result.status == "ok"
    assert result.metrics["energy_j"] is None
    assert result.environment["power"]["reason"].startswith("rapl: no intel-rapl powercap")


def test_unknown_sensor_fails_before_compiling(mlp_job):
    result = run_job(mlp_job(PowerSpec(sensor="wattmeter")))
    assert result.status == "model-error"
    assert result.error == ("unknown power sensor 'wattmeter'; known: auto, none, hwmon, jetson, "
                            "meter, nvml, rapl")
    assert "compile" not in result.phases_s


def test_unknown_sensor_option_is_named(mlp_job):
    result = run_job(mlp_job(PowerSpec(sensor="hwmon", options={"roots": "/"})))
    assert result.status == "model-error" and "unknown option(s) roots" in result.error


def _throttling_tree(root: Path) -> Telemetry:
    put(root / "sys/class/thermal/thermal_zone0/type", "cpu-thermal")
    put(root / "sys/class/thermal/thermal_zone0/temp", 61000)
    put(root / "sys/class/thermal/cooling_device0/type", "thermal-cpufreq-0")
    put(root / "sys/class/thermal/cooling_device0/cur_state", 0)
    reads = {"n": 0}

    def reader(path: Path) -> str:
        # The cooling device steps up between the snapshot before and the one after the run.
        if path.name == "cur_state":
            reads["n"] += 1
            return "0" if reads["n"] == 1 else "3"
        return path.read_text().strip()

    return Telemetry(root, reader=reader)


def test_throttled_run_is_flagged_unstable(tmp_path, mlp_job):
    result = run_job(mlp_job(PowerSpec()), telemetry=_throttling_tree(tmp_path))
    assert result.status == "ok"
    tel = result.environment["telemetry"]
    assert tel["before"]["temperatures_c"] == {"cpu-thermal": 61.0}
    assert tel["throttle_reasons"] == ["cooling device thermal-cpufreq-0@cooling_device0 rose by 3"]
    assert "throttled" in result.flags and "unstable" in result.flags
    assert result.environment["unstable_reasons"][-1] == tel["throttle_reasons"][0]
    assert RunResult.from_json(result.to_json()).flags == result.flags


def test_noisy_run_is_flagged_noisy_and_unstable(tmp_path, mlp_job):
    noisy = RunLength(**{**LENGTH.__dict__, "noisy_cv": 0.0, "min_duration_s": 0.2})
    result = run_job(mlp_job(PowerSpec(), run=noisy), telemetry=Telemetry(tmp_path))
    assert result.status == "ok"
    assert result.flags == ["noisy", "unstable"]
    assert result.environment["unstable_reasons"][0].startswith("latency CV ")


def test_steady_run_has_no_flags(tmp_path, mlp_job):
    result = run_job(mlp_job(PowerSpec(), run=RunLength(**{**LENGTH.__dict__, "noisy_cv": 1e9,
                                                           "min_duration_s": 0.2})),
                     telemetry=Telemetry(tmp_path))
    assert result.status == "ok" and result.flags == []
    assert "unstable_reasons" not in result.environment
