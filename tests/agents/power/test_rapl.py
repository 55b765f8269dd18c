"""RAPL through powercap: rails, unwrapping, unreadable counters, energy over a window."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from power_fixtures import CounterWriter, put, rapl_tree

from agents.errors import SensorUnavailable, UserError
from agents.power import get_sensor
from agents.power.rapl import RaplOptions, RaplSensor
from agents.power.sampler import Sampler


def test_packages_and_dram_are_summed_not_core_or_psys(tmp_path):
    rapl_tree(tmp_path, packages=2)
    sensor = get_sensor("rapl", {"root": str(tmp_path)})
    assert sensor.rails() == ["package-0", "package-0/core", "package-0/dram",
                              "package-1", "package-1/core", "package-1/dram", "psys"]
    assert sensor.summed_rails() == ["package-0", "package-0/dram",
                                     "package-1", "package-1/dram"]


def test_dram_can_be_left_out_and_rails_chosen(tmp_path):
    rapl_tree(tmp_path)
    assert get_sensor("rapl", {"root": str(tmp_path), "dram": False}).summed_rails() == ["package-0"]
    assert get_sensor("rapl", {"root": str(tmp_path), "rails": ["psys"]}).summed_rails() == ["psys"]


def test_unknown_rail_names_the_known_ones(tmp_path):
    rapl_tree(tmp_path)
    with pytest.raises(UserError, match=r"unknown rail\(s\) gpu; known: package-0, .*psys"):
        get_sensor("rapl", {"root": str(tmp_path), "rails": ["gpu"]})


def test_counter_is_read_in_joules_since_open(tmp_path):
    files = rapl_tree(tmp_path)
    put(files["package-0"], 5_000_000)
    ticks = iter([100, 300])
    sensor = RaplSensor(RaplOptions(root=str(tmp_path)), clock=lambda: next(ticks))
    put(files["package-0"], 7_500_000)
    reading = sensor.read()
    assert reading.t_ns == 200  # the midpoint of the read on the injected clock
    assert reading.energy_j["package-0"] == pytest.approx(2.5)
    assert reading.energy_j["package-0/dram"] == 0.0


def test_wraparound_through_max_energy_range(tmp_path):
    files = rapl_tree(tmp_path, max_uj=10_000_000)
    put(files["package-0"], 9_000_000)
    sensor = RaplSensor(RaplOptions(root=str(tmp_path)))
    put(files["package-0"], 500_000)  # passed 10 J and started again from 0
    assert sensor.read().energy_j["package-0"] == pytest.approx(1.5)
    put(files["package-0"], 2_500_000)
    assert sensor.read().energy_j["package-0"] == pytest.approx(3.5)


def test_permission_denied_says_so_and_how_to_fix(tmp_path):
    rapl_tree(tmp_path)

    def reader(path: Path) -> str:
        if path.name == "energy_uj":
            raise PermissionError(13, "Permission denied", str(path))
        return path.read_text().strip()

    with pytest.raises(SensorUnavailable) as err:
        RaplSensor(RaplOptions(root=str(tmp_path)), reader=reader)
    assert "permission denied" in err.value.reason
    assert "root" in err.value.reason and "energy_uj" in err.value.reason


def test_counter_path_that_cannot_be_read_is_named(tmp_path):
    files = rapl_tree(tmp_path, dram=False, psys=False)
    files["package-0"].unlink()
    files["package-0"].mkdir()  # reading a directory fails even for root
    files["package-0/core"].unlink()
    files["package-0/core"].mkdir()
    with pytest.raises(SensorUnavailable, match="cannot read .*energy_uj"):
        get_sensor("rapl", {"root": str(tmp_path)})


def test_no_powercap_tree(tmp_path):
    with pytest.raises(SensorUnavailable, match="no intel-rapl powercap domains"):
        get_sensor("rapl", {"root": str(tmp_path)})


def test_energy_over_exactly_the_window_while_counters_advance(tmp_path):
    files = rapl_tree(tmp_path)
    pkg, dram = files["package-0"], files["package-0/dram"]
    with CounterWriter({pkg: 4.0, dram: 1.0}) as writer:
        sampler = Sampler(get_sensor("rapl", {"root": str(tmp_path)}), rate_hz=50)
        sampler.start()
        time.sleep(0.3)
        writer.set_watts(pkg, 24.0)  # the "measured" phase draws 25 W in all
        start = time.perf_counter_ns()
        time.sleep(0.5)
        end = time.perf_counter_ns()
        writer.set_watts(pkg, 4.0)
        time.sleep(0.3)
        sampler.stop()
    m = sampler.window_metrics(start, end, inferences=1000)
    seconds = (end - start) / 1e9
    # Counting any of the 5 W before or after the window would pull the average down.
    assert m["power_avg_w"] == pytest.approx(25.0, rel=0.08)
    assert m["energy_j"] == pytest.approx(25.0 * seconds, rel=0.08)
    assert m["energy_per_inference_j"] == pytest.approx(m["energy_j"] / 1000)
    assert m["inferences_per_j"] == pytest.approx(1000 / m["energy_j"])
    assert m["power_rails"] == ["package-0", "package-0/dram"]
    assert m["power_method"] == "counter" and m["power_reason"] is None


def test_energy_survives_wraps_while_sampling(tmp_path):
    files = rapl_tree(tmp_path, max_uj=2_000_000, dram=False, psys=False)  # wraps every 2 J
    with CounterWriter({files["package-0"]: 10.0}, max_uj=2_000_000) as writer:
        sampler = Sampler(get_sensor("rapl", {"root": str(tmp_path)}), rate_hz=50)
        sampler.start()
        time.sleep(0.05)
        start = time.perf_counter_ns()
        time.sleep(0.8)
        end = time.perf_counter_ns()
        time.sleep(0.05)
        sampler.stop()
    assert writer.wraps >= 3
    m = sampler.window_metrics(start, end, inferences=10)
    assert m["power_avg_w"] == pytest.approx(10.0, rel=0.08)
