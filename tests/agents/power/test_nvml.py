"""NVML: the counter-or-power choice against a stand-in module, and the real thing on a GPU."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from agents.errors import SensorUnavailable
from agents.power.nvml import NvmlOptions, NvmlSensor
from agents.power.sampler import Sampler


class _NVMLError(Exception):
    pass


class _NotSupported(_NVMLError):
    pass


def _module(energy_supported: list[bool], init_error: str | None = None):
    """A stand-in for pynvml's functions used by the sensor (only the selection logic is tested
    here; the real library is tested below on a GPU)."""
    state = {"mj": 0, "shutdown": 0}

    def init():
        if init_error:
            raise _NVMLError(init_error)

    def energy(h):
        if not energy_supported[h]:
            raise _NotSupported("Not Supported")
        state["mj"] += 1000
        return state["mj"]

    def shutdown():
        state["shutdown"] += 1

    return SimpleNamespace(
        NVMLError=_NVMLError, nvmlInit=init, nvmlShutdown=shutdown,
        nvmlDeviceGetCount=lambda: len(energy_supported), nvmlDeviceGetHandleByIndex=lambda i: i,
        nvmlDeviceGetTotalEnergyConsumption=energy, nvmlDeviceGetPowerUsage=lambda h: 75_000,
        nvmlDeviceGetMemoryInfo=lambda h: SimpleNamespace(used=512 * 2**20)), state


def test_counter_where_supported_power_elsewhere():
    nv, _ = _module([True, False])
    sensor = NvmlSensor(NvmlOptions(), nvml=nv)
    assert sensor.methods() == {"gpu0": "energy", "gpu1": "power"}
    reading = sensor.read()
    assert reading.energy_j == {"gpu0": pytest.approx(2.0)} and reading.power_w == {"gpu1": 75.0}
    assert reading.extra == {"gpu_memory_peak_mb": 1024.0}


def test_energy_mode_refuses_a_gpu_without_counter():
    nv, state = _module([False])
    with pytest.raises(SensorUnavailable, match="no energy counter"):
        NvmlSensor(NvmlOptions(mode="energy"), nvml=nv)
    assert state["shutdown"] == 1


def test_init_failure_is_the_reason():
    nv, _ = _module([True], init_error="Driver Not Loaded")
    with pytest.raises(SensorUnavailable, match="NVML cannot start: Driver Not Loaded"):
        NvmlSensor(NvmlOptions(), nvml=nv)


def _real_sensor() -> NvmlSensor:
    pytest.importorskip("pynvml", reason="nvidia-ml-py is not installed")
    try:
        return NvmlSensor(NvmlOptions())
    except SensorUnavailable as e:
        pytest.skip(f"no usable NVIDIA GPU here: {e.reason}")


@pytest.mark.gpu
def test_real_gpu_reads_energy_or_power_and_memory():
    sensor = _real_sensor()
    try:
        first, second = sensor.read(), (time.sleep(0.2), sensor.read())[1]
    finally:
        sensor.close()
    assert second.t_ns > first.t_ns
    assert second.extra["gpu_memory_peak_mb"] > 0
    for rail, kind in sensor.methods().items():
        if kind == "energy":
            assert second.energy_j[rail] >= first.energy_j[rail] > 0
        else:
            assert second.power_w[rail] > 0


@pytest.mark.gpu
def test_real_gpu_energy_over_a_window_is_positive():
    sampler = Sampler(_real_sensor(), rate_hz=20)
    sampler.start()
    start = time.perf_counter_ns()
    time.sleep(1.0)
    end = time.perf_counter_ns()
    time.sleep(0.1)
    sampler.stop()
    sampler.close()
    m = sampler.window_metrics(start, end, inferences=1)
    assert m["power_reason"] is None
    assert m["energy_j"] > 0 and m["power_avg_w"] > 0
    print(f"NVML: {m['power_avg_w']:.1f} W idle-ish over {(end - start) / 1e9:.2f} s, "
          f"method {m['power_method']}, rails {m['power_rails']}")
