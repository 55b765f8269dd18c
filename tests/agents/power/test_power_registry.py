"""The sensor registry, third-party sensors through entry points, and `auto` discovery."""

from __future__ import annotations

import textwrap

import pytest
from power_fixtures import hwmon_device, put, rapl_tree

from agents.errors import SensorUnavailable, UserError
from agents.power import (Reading, UnknownSensor, check_options, get_sensor, known_sensors,
                          register, registry, sensor_class)
from agents.power.discover import discover, probe_sensors


@pytest.fixture
def clean_registry(monkeypatch):
    monkeypatch.setattr(registry, "SENSORS", registry.SENSORS.copy())


def test_builtins_are_known():
    assert {"hwmon", "jetson", "meter", "nvml", "rapl"} <= set(known_sensors())


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(UnknownSensor) as err:
        get_sensor("rapll")
    assert str(err.value).startswith("unknown power sensor 'rapll'; known: auto, none, hwmon, ")
    assert isinstance(err.value, UserError)


def test_duplicates_are_refused(clean_registry):
    with pytest.raises(ValueError, match="'rapl' is already registered"):
        register("rapl", sensor_class("hwmon"))
    with pytest.raises(ValueError, match="'auto' is already registered"):
        register("auto", sensor_class("hwmon"))


def test_unknown_option_is_named_with_the_known_ones():
    with pytest.raises(UserError, match=r"unknown option\(s\) sysroot .* known: dram, rails, root"):
        check_options("rapl", {"sysroot": "/"})
    with pytest.raises(UserError, match="'none' takes no options"):
        check_options("none", {"root": "/"})


def test_third_party_sensor_through_entry_point(tmp_path, monkeypatch, clean_registry):
    (tmp_path / "lab_sensor.py").write_text(textwrap.dedent('''
        import time
        from dataclasses import dataclass
        from agents.power.base import PowerSensor, Reading

        @dataclass
        class Opts:
            watts: float = 1.0

        class LabSensor(PowerSensor):
            name = "labpdu"
            Options = Opts
            min_interval_s = 0.01

            def __init__(self, options, clock=time.perf_counter_ns):
                self.options, self.clock = options, clock

            def rails(self):
                return ["outlet1"]

            def summed_rails(self):
                return ["outlet1"]

            def read(self):
                return Reading(self.clock(), power_w={"outlet1": self.options.watts})

            def close(self):
                pass
    '''))
    dist = tmp_path / "lab_sensor-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: lab-sensor\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[benchlab.power]\nlabpdu = lab_sensor:LabSensor\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "labpdu" in known_sensors()
    sensor = get_sensor("labpdu", {"watts": 42.5}, clock=lambda: 7)
    assert sensor.read() == Reading(7, power_w={"outlet1": 42.5})


def test_auto_prefers_jetson_rails(tmp_path):
    rapl_tree(tmp_path)
    dev = tmp_path / "sys/bus/i2c/drivers/ina3221x/6-0040/iio:device0"
    put(dev / "rail_name_0", "POM_5V_IN")
    put(dev / "in_power0_input", 3000)
    sensor, reasons = discover({"root": str(tmp_path)})
    assert sensor.name == "jetson" and reasons == {}


def test_auto_takes_rapl_over_hwmon_and_explains_the_rest(tmp_path):
    rapl_tree(tmp_path)
    hwmon_device(tmp_path, 0, "psu", {"power1_input": 1_000_000})
    sensor, reasons = discover({"root": str(tmp_path)})
    assert "package-0" in sensor.rails() and "psu/power1" not in sensor.rails()
    assert "no INA3221/INA238 rails" in reasons["jetson"]
    if "nvml" in reasons:  # no GPU here: RAPL alone
        assert sensor.name == "rapl"
    else:  # a GPU machine: GPU board + CPU packages, disjoint rails
        assert sensor.name == "nvml+rapl"


def test_auto_falls_back_to_hwmon(tmp_path):
    hwmon_device(tmp_path, 0, "psu", {"power1_input": 1_000_000})
    sensor, reasons = discover({"root": str(tmp_path)})
    if "nvml" in reasons:
        assert sensor.name == "hwmon" and set(reasons) == {"jetson", "nvml", "rapl"}


def test_auto_with_nothing_gives_every_reason(tmp_path):
    sensor, reasons = discover({"root": str(tmp_path)})
    if "nvml" not in reasons:
        pytest.skip("an NVIDIA GPU is usable here, so auto finds it")
    assert sensor is None and set(reasons) == {"jetson", "nvml", "rapl", "hwmon"}
    with pytest.raises(SensorUnavailable, match="jetson: .*; nvml: .*; rapl: .*; hwmon: "):
        get_sensor("auto", {"root": str(tmp_path)})


def test_probe_lists_what_is_usable_and_why_not(tmp_path):
    rapl_tree(tmp_path, psys=False)
    found = probe_sensors(str(tmp_path))
    assert found["rapl"] == {"available": True, "rails": ["package-0", "package-0/core",
                                                          "package-0/dram"],
                             "summed_rails": ["package-0", "package-0/dram"]}
    assert found["hwmon"]["available"] is False and "no power*_input" in found["hwmon"]["reason"]
    assert set(found) == {"jetson", "nvml", "rapl", "hwmon"}
