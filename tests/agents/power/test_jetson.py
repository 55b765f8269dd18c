"""Jetson rails: JetPack 4 iio, JetPack 5/6 hwmon (INA3221, INA238), and tegrastats."""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path

import pytest
from power_fixtures import HERE, put

from agents.errors import SensorUnavailable, UserError
from agents.power import get_sensor
from agents.power.sampler import Sampler
from agents.power.tegrastats import parse_power_mw

# One line per JetPack generation, in the format tegrastats prints there.
TEGRASTATS = {
    "jp4-nano": "RAM 1655/3956MB (lfb 97x4MB) SWAP 0/1978MB (cached 0MB) CPU [12%@1479,5%@1479,"
                "3%@1479,2%@1479] EMC_FREQ 0% GR3D_FREQ 0% PLL@33C CPU@35.5C PMIC@50C GPU@34C "
                "AO@40.5C thermal@34.75C POM_5V_IN 2116/2116 POM_5V_GPU 40/40 POM_5V_CPU 402/402",
    "jp4-xavier-nx": "RAM 2398/7773MB (lfb 1035x4MB) SWAP 0/3886MB (cached 0MB) CPU [4%@1190,"
                     "2%@1190,off,off,off,off] EMC_FREQ 0% GR3D_FREQ 0% AO@38C GPU@38.5C PMIC@50C "
                     "AUX@37.5C CPU@39C thermal@38.45C VDD_IN 3944/3944 VDD_CPU_GPU_CV 516/516 "
                     "VDD_SOC 1079/1079",
    "jp5-agx-orin": "08-28-2023 10:21:41 RAM 2895/30536MB (lfb 6363x4MB) SWAP 0/15268MB "
                    "(cached 0MB) CPU [1%@729,0%@729,0%@729,0%@729,off,off,off,off] EMC_FREQ 0%@2133 "
                    "GR3D_FREQ 0%@[0,0] VIC_FREQ 729 APE 174 CV0@-256C CPU@45.937C Tboard@32C "
                    "SOC2@42.062C Tdiode@34.5C tj@45.937C VDD_GPU_SOC 2000mW/2000mW "
                    "VDD_CPU_CV 400mW/400mW VIN_SYS_5V0 2620mW/2620mW VDDQ_VDD2_1V8AO 302mW/302mW",
    "jp6-orin-nano": "05-16-2024 14:02:11 RAM 1977/7620MB (lfb 2x4MB) SWAP 0/3810MB (cached 0MB) "
                     "CPU [0%@729,0%@729,0%@729,0%@729,0%@729,0%@729] EMC_FREQ 0%@2133 "
                     "GR3D_FREQ 0%@[305] NVENC off NVDEC off NVJPG off VIC off OFA off APE 200 "
                     "cpu@48.5C soc2@46.687C gpu@47.781C tj@48.5C VDD_IN 5000mW/4919mW "
                     "VDD_CPU_GPU_CV 1000mW/553mW VDD_SOC 1435mW/1435mW",
}
FAKE = HERE / "fake_tegrastats.py"


@pytest.mark.parametrize("version, expected", [
    ("jp4-nano", {"POM_5V_IN": 2116, "POM_5V_GPU": 40, "POM_5V_CPU": 402}),
    ("jp4-xavier-nx", {"VDD_IN": 3944, "VDD_CPU_GPU_CV": 516, "VDD_SOC": 1079}),
    ("jp5-agx-orin", {"VDD_GPU_SOC": 2000, "VDD_CPU_CV": 400, "VIN_SYS_5V0": 2620,
                      "VDDQ_VDD2_1V8AO": 302}),
    ("jp6-orin-nano", {"VDD_IN": 5000, "VDD_CPU_GPU_CV": 1000, "VDD_SOC": 1435}),
])
def test_tegrastats_power_fields_of_each_jetpack(version, expected):
    # RAM/SWAP (MB), IRAM (kB), temperatures and frequencies must not be taken for rails.
    assert parse_power_mw(TEGRASTATS[version]) == expected


def test_jetpack4_iio_rails(tmp_path):
    dev = tmp_path / "sys/bus/i2c/drivers/ina3221x/6-0040/iio:device0"
    rails = [("POM_5V_IN", 4200), ("POM_5V_GPU", 1100), ("POM_5V_CPU", 900)]
    for i, (name, mw) in enumerate(rails):
        put(dev / f"rail_name_{i}", name)
        put(dev / f"in_power{i}_input", mw)
        put(dev / f"in_voltage{i}_input", 5000)
    sensor = get_sensor("jetson", {"root": str(tmp_path)})
    assert sensor.source() == "sysfs"
    assert sensor.rails() == ["POM_5V_IN", "POM_5V_GPU", "POM_5V_CPU"]
    assert sensor.summed_rails() == ["POM_5V_IN"]  # the others are parts of the input rail
    assert sensor.read().power_w == {"POM_5V_IN": 4.2, "POM_5V_GPU": 1.1, "POM_5V_CPU": 0.9}


def _ina3221(root: Path, hwmon: int, addr: str, rails: list[tuple[str, int, int]]) -> None:
    dev = root / f"sys/bus/i2c/drivers/ina3221/1-{addr}/hwmon/hwmon{hwmon}"
    put(dev / "name", "ina3221")
    for i, (label, mv, ma) in enumerate(rails, start=1):
        put(dev / f"in{i}_label", label)
        put(dev / f"in{i}_input", mv)
        put(dev / f"curr{i}_input", ma)
        put(dev / f"in{i + 3}_input", 12)  # shunt voltages: not rails
    put(dev / "in7_label", "sum of shunt voltages")
    put(dev / "in7_input", 36)
    (root / "sys/class/hwmon").mkdir(parents=True, exist_ok=True)
    (root / f"sys/class/hwmon/hwmon{hwmon}").symlink_to(dev)


def test_jetpack5_orin_nano_hwmon_sums_vdd_in(tmp_path):
    _ina3221(tmp_path, 1, "0040", [("VDD_IN", 5000, 1000), ("VDD_CPU_GPU_CV", 5000, 200),
                                   ("VDD_SOC", 5000, 287)])
    sensor = get_sensor("jetson", {"root": str(tmp_path)})
    assert sensor.rails() == ["VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC"]
    assert sensor.summed_rails() == ["VDD_IN"]
    assert sensor.read().power_w == pytest.approx({"VDD_IN": 5.0, "VDD_CPU_GPU_CV": 1.0,
                                                   "VDD_SOC": 1.435})


def test_jetpack5_agx_orin_without_input_rail_sums_all_and_skips_nc(tmp_path):
    _ina3221(tmp_path, 1, "0040", [("VDD_GPU_SOC", 5000, 400), ("VDD_CPU_CV", 5000, 80),
                                   ("VIN_SYS_5V0", 5000, 524)])
    _ina3221(tmp_path, 2, "0041", [("NC", 0, 0), ("VDDQ_VDD2_1V8AO", 5000, 60), ("NC", 0, 0)])
    sensor = get_sensor("jetson", {"root": str(tmp_path)})
    assert sensor.summed_rails() == ["VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0", "VDDQ_VDD2_1V8AO"]
    assert sum(sensor.read().power_w.values()) == pytest.approx(5.32)


def test_jetpack6_ina238_without_labels(tmp_path):
    dev = tmp_path / "sys/class/hwmon/hwmon4"
    for name, value in {"name": "ina238", "in0_input": 3, "in1_input": 19000, "curr1_input": 650,
                        "power1_input": 12350000}.items():
        put(dev / name, value)
    sensor = get_sensor("jetson", {"root": str(tmp_path)})
    assert sensor.rails() == ["ina238.hwmon4/ch1"]
    assert sensor.read().power_w == {"ina238.hwmon4/ch1": pytest.approx(12.35)}


def _tegrastats_cmd(tmp_path: Path, lines: list[str], extra: str = "") -> str:
    path = tmp_path / "tegrastats.txt"
    path.write_text("\n".join(lines) + "\n")
    return " ".join(shlex.quote(str(p)) for p in (sys.executable, FAKE, path)) + extra


def test_tegrastats_fallback_is_sampled_over_the_window(tmp_path):
    cmd = _tegrastats_cmd(tmp_path, [TEGRASTATS["jp6-orin-nano"]])
    sensor = get_sensor("jetson", {"root": str(tmp_path), "tegrastats": cmd, "interval_ms": 20})
    try:
        assert sensor.source() == "tegrastats"
        assert sensor.summed_rails() == ["VDD_IN"]
        assert sensor.min_interval_s == pytest.approx(0.02)
        sampler = Sampler(sensor, rate_hz=50)
        sampler.start()
        time.sleep(0.1)
        start = time.perf_counter_ns()
        time.sleep(0.4)
        end = time.perf_counter_ns()
        time.sleep(0.1)
        sampler.stop()
    finally:
        sensor.close()
    m = sampler.window_metrics(start, end, inferences=100)
    assert m["power_avg_w"] == pytest.approx(5.0)
    stamps = [r.t_ns for r in sampler.samples()]
    assert stamps == sorted(set(stamps))  # a line read twice is one sample


def test_tegrastats_that_exits_stops_with_a_reason(tmp_path):
    cmd = _tegrastats_cmd(tmp_path, [TEGRASTATS["jp4-nano"]], " --lines 2")
    sensor = get_sensor("jetson", {"root": str(tmp_path), "source": "tegrastats",
                                   "tegrastats": cmd, "interval_ms": 10})
    reason, deadline = None, time.monotonic() + 10
    while reason is None and time.monotonic() < deadline:
        try:
            sensor.read()
        except SensorUnavailable as e:
            reason = e.reason
        time.sleep(0.01)
    sensor.close()
    assert reason == "tegrastats exited with code 0"


def test_no_rails_and_no_tegrastats(tmp_path):
    with pytest.raises(SensorUnavailable,
                       match="no INA3221/INA238 rails .* and no `/nope/tegrastats`"):
        get_sensor("jetson", {"root": str(tmp_path), "tegrastats": "/nope/tegrastats"})
    with pytest.raises(SensorUnavailable, match="no INA3221/INA238 rails"):
        get_sensor("jetson", {"root": str(tmp_path), "source": "sysfs"})


def test_bad_source_is_named():
    with pytest.raises(UserError, match="source must be one of auto, sysfs, tegrastats"):
        get_sensor("jetson", {"source": "i2c"})
