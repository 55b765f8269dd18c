"""Generic hwmon: power*_input (µW) and energy*_input (µJ) channels."""

from __future__ import annotations

import time

import pytest
from power_fixtures import CounterWriter, hwmon_device, put

from agents.errors import SensorUnavailable
from agents.power import get_sensor
from agents.power.sampler import Sampler


def _tree(root):
    hwmon_device(root, 0, "acpitz", {"temp1_input": 40000})  # no power channels: skipped
    hwmon_device(root, 1, "corsairpsu", {"power1_input": 12_500_000, "power1_label": "psu total",
                                         "power2_input": 2_000_000})
    hwmon_device(root, 2, "amd_energy", {"energy1_input": 0, "energy1_label": "Esocket0"})


def test_channels_become_rails_in_watts_and_joules(tmp_path):
    _tree(tmp_path)
    sensor = get_sensor("hwmon", {"root": str(tmp_path)})
    assert sensor.rails() == ["corsairpsu/psu total", "corsairpsu/power2", "amd_energy/Esocket0"]
    assert sensor.summed_rails() == sensor.rails()
    reading = sensor.read()
    assert reading.power_w == {"corsairpsu/psu total": 12.5, "corsairpsu/power2": 2.0}
    assert reading.energy_j == {"amd_energy/Esocket0": 0.0}


def test_devices_and_rails_narrow_the_sum(tmp_path):
    _tree(tmp_path)
    only_psu = get_sensor("hwmon", {"root": str(tmp_path), "devices": ["corsairpsu"]})
    assert only_psu.rails() == ["corsairpsu/psu total", "corsairpsu/power2"]
    one = get_sensor("hwmon", {"root": str(tmp_path), "rails": ["corsairpsu/psu total"]})
    assert one.summed_rails() == ["corsairpsu/psu total"]


def test_two_devices_with_one_driver_name_get_distinct_rails(tmp_path):
    hwmon_device(tmp_path, 3, "ina2xx", {"power1_input": 1_000_000})
    hwmon_device(tmp_path, 4, "ina2xx", {"power1_input": 3_000_000})
    sensor = get_sensor("hwmon", {"root": str(tmp_path)})
    assert sensor.rails() == ["ina2xx/power1", "ina2xx.hwmon4/power1"]
    assert sum(sensor.read().power_w.values()) == pytest.approx(4.0)


def test_no_power_channels_is_a_clear_reason(tmp_path):
    hwmon_device(tmp_path, 0, "coretemp", {"temp1_input": 50000})
    with pytest.raises(SensorUnavailable, match=r"no power\*_input or energy\*_input"):
        get_sensor("hwmon", {"root": str(tmp_path)})


def test_power_channel_energy_is_the_trapezoid_over_the_window(tmp_path):
    dev = hwmon_device(tmp_path, 1, "psu", {"power1_input": 8_000_000})
    sampler = Sampler(get_sensor("hwmon", {"root": str(tmp_path)}), rate_hz=50)
    sampler.start()
    time.sleep(0.1)
    start = time.perf_counter_ns()
    time.sleep(0.4)
    end = time.perf_counter_ns()
    time.sleep(0.1)
    put(dev / "power1_input", 1_000_000)  # after the window: must not count
    time.sleep(0.1)
    sampler.stop()
    m = sampler.window_metrics(start, end, inferences=200)
    assert m["power_method"] == "trapezoid"
    assert m["energy_j"] == pytest.approx(8.0 * (end - start) / 1e9, rel=1e-6)


def test_energy_channel_counts_only_the_window(tmp_path):
    dev = hwmon_device(tmp_path, 1, "soc", {"energy1_input": 0})
    with CounterWriter({dev / "energy1_input": 3.0}) as writer:
        sampler = Sampler(get_sensor("hwmon", {"root": str(tmp_path)}), rate_hz=40)
        sampler.start()
        time.sleep(0.2)
        writer.set_watts(dev / "energy1_input", 9.0)
        start = time.perf_counter_ns()
        time.sleep(0.5)
        end = time.perf_counter_ns()
        writer.set_watts(dev / "energy1_input", 3.0)
        time.sleep(0.2)
        sampler.stop()
    m = sampler.window_metrics(start, end, inferences=1)
    assert m["power_method"] == "counter"
    assert m["power_avg_w"] == pytest.approx(9.0, rel=0.08)
