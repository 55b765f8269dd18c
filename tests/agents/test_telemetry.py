"""Device telemetry on fixture sysfs trees: temperatures, clocks, throttling, nvpmodel."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.telemetry import Telemetry, parse_nvpmodel, throttle_reasons


def put(path: Path, value: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{value}\n")


def _x86(root: Path, cpus: int = 4, khz: int = 3_000_000) -> None:
    put(root / "sys/class/thermal/thermal_zone0/type", "x86_pkg_temp")
    put(root / "sys/class/thermal/thermal_zone0/temp", 45000)
    put(root / "sys/class/thermal/thermal_zone1/type", "acpitz")
    put(root / "sys/class/thermal/thermal_zone1/temp", 27800)
    put(root / "sys/class/thermal/thermal_zone2/type", "acpitz")
    put(root / "sys/class/thermal/thermal_zone2/temp", 30000)
    put(root / "sys/class/thermal/thermal_zone3/type", "iwlwifi_1")
    (root / "sys/class/thermal/thermal_zone3/temp").mkdir(parents=True, exist_ok=True)  # unreadable
    put(root / "sys/class/thermal/cooling_device0/type", "Processor")
    put(root / "sys/class/thermal/cooling_device0/cur_state", 0)
    put(root / "sys/class/thermal/cooling_device1/type", "Fan")
    put(root / "sys/class/thermal/cooling_device1/cur_state", 0)
    for i in range(cpus):
        cpu = root / f"sys/devices/system/cpu/cpu{i}"
        put(cpu / "cpufreq/scaling_cur_freq", khz)
        put(cpu / "cpufreq/scaling_max_freq", 4_500_000)
        put(cpu / "cpufreq/scaling_governor", "performance" if i else "powersave")
        put(cpu / "thermal_throttle/core_throttle_count", 0)
        put(cpu / "thermal_throttle/package_throttle_count", 2)


def _arm(root: Path, khz: int = 1_500_000) -> None:
    for i in range(2):
        put(root / f"sys/devices/system/cpu/cpu{i}/cpufreq/scaling_cur_freq", khz)
        put(root / f"sys/devices/system/cpu/cpu{i}/cpufreq/scaling_max_freq", 1_500_000)


def test_snapshot_of_an_x86_host(tmp_path):
    _x86(tmp_path)
    snap = Telemetry(tmp_path).snapshot()
    assert snap["temperatures_c"] == {"x86_pkg_temp": 45.0, "acpitz": 27.8,
                                      "acpitz@thermal_zone2": 30.0}
    assert snap["cpu_freq_khz"] == {f"cpu{i}": 3_000_000 for i in range(4)}
    assert snap["cpu_governors"] == ["performance", "powersave"]
    assert snap["throttle_counts"] == {"core": 0, "package": 8}
    assert snap["cooling_states"] == {"Processor@cooling_device0": 0}  # fans are not throttling
    assert "power_mode" not in snap


def test_a_bare_container_yields_empty_sections(tmp_path):
    snap = Telemetry(tmp_path).snapshot()
    assert snap["temperatures_c"] == {} and snap["cpu_freq_khz"] == {}
    assert throttle_reasons(snap, Telemetry(tmp_path).snapshot()) == []


def test_steady_host_is_not_throttled(tmp_path):
    _x86(tmp_path)
    tel = Telemetry(tmp_path)
    assert throttle_reasons(tel.snapshot(), tel.snapshot()) == []


def test_thermal_throttle_counter_rising_is_throttling(tmp_path):
    _x86(tmp_path)
    tel = Telemetry(tmp_path)
    before = tel.snapshot()
    put(tmp_path / "sys/devices/system/cpu/cpu2/thermal_throttle/core_throttle_count", 5)
    assert throttle_reasons(before, tel.snapshot()) == ["thermal throttle count core rose by 5"]


def test_cooling_device_stepping_up_is_throttling_but_a_fan_is_not(tmp_path):
    _x86(tmp_path)
    tel = Telemetry(tmp_path)
    before = tel.snapshot()
    put(tmp_path / "sys/class/thermal/cooling_device1/cur_state", 3)  # the fan
    assert throttle_reasons(before, tel.snapshot()) == []
    put(tmp_path / "sys/class/thermal/cooling_device0/cur_state", 2)
    assert throttle_reasons(before, tel.snapshot()) == ["cooling device Processor@cooling_device0 "
                                                        "rose by 2"]


def test_turbo_frequency_falling_on_x86_is_not_throttling(tmp_path):
    # With throttle counters visible, a lower all-core turbo is not taken for throttling.
    _x86(tmp_path, khz=4_500_000)
    tel = Telemetry(tmp_path)
    before = tel.snapshot()
    _x86(tmp_path, khz=3_600_000)
    assert throttle_reasons(before, tel.snapshot()) == []


def test_frequency_drop_without_counters_is_throttling(tmp_path):
    _arm(tmp_path, khz=1_500_000)
    tel = Telemetry(tmp_path)
    before = tel.snapshot()
    _arm(tmp_path, khz=1_420_000)  # -5 %: under the threshold
    assert throttle_reasons(before, tel.snapshot()) == []
    _arm(tmp_path, khz=1_100_000)
    assert throttle_reasons(before, tel.snapshot(), drop_pct=10) == [
        "fastest CPU fell from 1500 to 1100 MHz (more than 10 %)"]


def test_policy_maximum_lowered_is_throttling(tmp_path):
    _arm(tmp_path)
    tel = Telemetry(tmp_path)
    before = tel.snapshot()
    put(tmp_path / "sys/devices/system/cpu/cpu1/cpufreq/scaling_max_freq", 1_200_000)
    assert "maximum CPU frequency lowered on cpu1" in throttle_reasons(before, tel.snapshot())


def _jetson(root: Path) -> None:
    put(root / "etc/nv_tegra_release", "# R35 (release), REVISION: 4.1")
    put(root / "sys/class/devfreq/17000000.ga10b/cur_freq", 305000000)
    put(root / "sys/class/hwmon/hwmon3/oc1_event_cnt", 0)
    put(root / "sys/class/thermal/thermal_zone0/type", "cpu-thermal")
    put(root / "sys/class/thermal/thermal_zone0/temp", 48500)


def test_jetson_power_mode_clocks_and_over_current_events(tmp_path):
    _jetson(tmp_path)
    calls = []

    def runner(argv, timeout_s):
        calls.append(argv)
        return "NV Fan Mode:quiet\nNV Power Mode: MAXN\n0\n"

    tel = Telemetry(tmp_path, runner=runner)
    before = tel.snapshot()
    assert before["power_mode"] == {"name": "MAXN", "id": 0}
    assert before["devfreq_hz"] == {"17000000.ga10b": 305000000}
    assert before["temperatures_c"] == {"cpu-thermal": 48.5}
    assert calls == [["nvpmodel", "-q"]]
    put(tmp_path / "sys/class/hwmon/hwmon3/oc1_event_cnt", 4)
    assert throttle_reasons(before, tel.snapshot()) == [
        "over-current events hwmon3/oc1_event_cnt rose by 4"]


def test_missing_nvpmodel_is_tolerated(tmp_path):
    _jetson(tmp_path)

    def runner(argv, timeout_s):
        raise FileNotFoundError(2, "No such file or directory", "nvpmodel")

    mode = Telemetry(tmp_path, runner=runner).snapshot()["power_mode"]
    assert mode["name"] is None and "nvpmodel -q failed" in mode["reason"]


@pytest.mark.parametrize("text, expected", [
    ("NV Power Mode: MAXN\n0\n", {"name": "MAXN", "id": 0}),                        # JetPack 4
    ("NV Fan Mode:quiet\nNV Power Mode: 15W\n0\n", {"name": "15W", "id": 0}),       # JetPack 5
    ("NV Power Mode: MODE_30W_ALL\n2\n", {"name": "MODE_30W_ALL", "id": 2}),
    ("NV Power Mode: 7W\n", {"name": "7W", "id": None}),
])
def test_nvpmodel_output(text, expected):
    assert parse_nvpmodel(text) == expected


def test_nvpmodel_output_without_a_mode():
    assert "no power mode" in parse_nvpmodel("nvpmodel: cannot open config\n")["reason"]
