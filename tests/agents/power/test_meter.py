"""External meter: a real TCP meter process and a real command, both on this machine."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from power_fixtures import HERE, put

from agents.errors import SensorUnavailable, UserError
from agents.power import get_sensor
from agents.power.sampler import Sampler


@pytest.fixture
def meter():
    """Start fake_meter.py with the given arguments; yields its host:port."""
    procs = []

    def start(*args: str) -> str:
        proc = subprocess.Popen([sys.executable, str(HERE / "fake_meter.py"), *args],
                                stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        return f"127.0.0.1:{int(proc.stdout.readline())}"

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=5)
        proc.stdout.close()


def _window(sensor, rate_hz=50.0, seconds=0.5):
    sampler = Sampler(sensor, rate_hz=rate_hz)
    sampler.start()
    time.sleep(0.1)
    start = time.perf_counter_ns()
    time.sleep(seconds)
    end = time.perf_counter_ns()
    time.sleep(0.1)
    sampler.stop()
    sensor.close()
    return sampler.window_metrics(start, end, inferences=50), (end - start) / 1e9


def test_tcp_energy_counter(meter):
    sensor = get_sensor("meter", {"address": meter("--mode", "energy", "--watts", "6.0"),
                                  "rail": "wall"})
    assert sensor.rails() == ["wall"]
    m, seconds = _window(sensor)
    assert m["power_method"] == "counter" and m["power_rails"] == ["wall"]
    assert m["power_avg_w"] == pytest.approx(6.0, rel=0.08)


def test_tcp_power(meter):
    address = meter("--mode", "power", "--watts", "3.5")
    m, seconds = _window(get_sensor("meter", {"address": address}))
    assert m["power_method"] == "trapezoid"
    assert m["energy_j"] == pytest.approx(3.5 * seconds)


def test_tcp_err_answer_is_the_reason(meter):
    with pytest.raises(SensorUnavailable, match="the meter answered: overload"):
        get_sensor("meter", {"address": meter("--mode", "err")})


def test_nothing_listening_is_a_clear_reason():
    import socket
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]
    with pytest.raises(SensorUnavailable, match=f"cannot connect to 127.0.0.1:{port}"):
        get_sensor("meter", {"address": f"127.0.0.1:{port}", "timeout_s": 1})


def test_command_printing_watts(tmp_path):
    reading = tmp_path / "watts"
    put(reading, "7.25")
    sensor = get_sensor("meter", {"command": f"cat {reading}", "interval_s": 0.02})
    m, seconds = _window(sensor, rate_hz=40)
    assert m["power_avg_w"] == pytest.approx(7.25)


def test_command_printing_tagged_joules(tmp_path):
    reading = tmp_path / "joules"
    put(reading, "J 100.0")
    sensor = get_sensor("meter", {"command": f"cat {reading}"})
    assert sensor.read().energy_j == {"meter": 100.0}


def test_command_with_bad_output_or_exit_status(tmp_path):
    bad = tmp_path / "bad"
    put(bad, "twelve watts")
    with pytest.raises(SensorUnavailable, match="unexpected answer 'twelve watts'"):
        get_sensor("meter", {"command": f"cat {bad}"})
    with pytest.raises(SensorUnavailable, match="exit code 1"):
        get_sensor("meter", {"command": "false"})
    with pytest.raises(SensorUnavailable, match="No such file"):
        get_sensor("meter", {"command": "/nope/meter-read"})


@pytest.mark.parametrize("options, message", [
    ({}, "exactly one of command and address"),
    ({"command": "x", "address": "h:1"}, "exactly one of command and address"),
    ({"address": "no-port"}, "address must be host:port"),
    ({"command": "x", "unit": "kWh"}, "unit must be W or J"),
    ({"command": "x", "colour": "red"}, r"unknown option\(s\) colour"),
])
def test_options_are_validated(options, message):
    with pytest.raises(UserError, match=message):
        get_sensor("meter", options)
