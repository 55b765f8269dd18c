"""`--power auto`: find the sensors this device has and pick ones that do not overlap.

Order, and why:

1. `jetson`: the board's INA rails see the whole module (CPU, GPU, DLA, memory), so on a
   Jetson nothing else is needed (NVML does not report power on Jetson anyway).
2. `nvml` and `rapl` together when both are usable: the GPU board and the CPU packages + DRAM
   are disjoint, and a GPU inference also burns host CPU energy; either one alone otherwise.
3. `hwmon` last: its channels are the least predictable (some drivers duplicate RAPL or
   report overlapping channels), so it is used only when nothing specific was found.

Every sensor that was tried and not used leaves its reason, so a run without power data says
why for each.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from agents.errors import SensorUnavailable
from agents.options import build_options
from agents.power.base import Clock, PowerSensor, Reading
from agents.power.registry import open_sensor

SYSFS_SENSORS = ("jetson", "rapl", "hwmon")


@dataclass
class AutoOptions:
    """root: filesystem root holding /sys, passed to the sysfs sensors (jetson, rapl, hwmon)."""

    root: str = "/"


def discover(options: dict[str, Any] | None = None, clock: Clock = time.perf_counter_ns
             ) -> tuple[PowerSensor | None, dict[str, str]]:
    """Open the best sensor (or pair of disjoint sensors) usable on this device.

    Args:
        options: `AutoOptions` keys.
        clock: the harness's clock, for every sensor.
    Returns:
        (the sensor, or None when none is usable; sensor name -> why it is not used).
    Raises:
        UserError: an unknown option.
    """
    auto = build_options(AutoOptions, options or {}, "power sensor 'auto' options")
    reasons: dict[str, str] = {}

    def attempt(name: str) -> PowerSensor | None:
        opts = {"root": auto.root} if name in SYSFS_SENSORS else {}
        try:
            return open_sensor(name, opts, clock)
        except SensorUnavailable as e:
            reasons[name] = e.reason
            return None

    jetson = attempt("jetson")
    if jetson:
        return jetson, reasons
    found = [s for s in (attempt("nvml"), attempt("rapl")) if s is not None]
    if len(found) == 2:
        return CombinedSensor(found), reasons
    if found:
        return found[0], reasons
    return attempt("hwmon"), reasons


def probe_sensors(root: str = "/", clock: Clock = time.perf_counter_ns
                  ) -> dict[str, dict[str, Any]]:
    """Each built-in sensor that needs no settings (all but `meter`): usable here or why not.

    For `python -m agents probe` / `bench fleet probe`; every sensor opened is closed again.

    Returns:
        name -> {"available": True, "rails": [...], "summed_rails": [...]} or
        {"available": False, "reason": "..."}.
    """
    found: dict[str, dict[str, Any]] = {}
    for name in ("jetson", "nvml", "rapl", "hwmon"):
        try:
            sensor = open_sensor(name, {"root": root} if name in SYSFS_SENSORS else {}, clock)
        except SensorUnavailable as e:
            found[name] = {"available": False, "reason": e.reason}
            continue
        found[name] = {"available": True, "rails": sensor.rails(),
                       "summed_rails": sensor.summed_rails()}
        sensor.close()
    return found


def open_auto(options: dict[str, Any], clock: Clock) -> PowerSensor:
    """`discover`, raising when nothing is usable.

    Raises:
        SensorUnavailable: no sensor is usable, with every sensor's reason.
    """
    sensor, reasons = discover(options, clock)
    if sensor is None:
        raise SensorUnavailable("auto", "; ".join(f"{k}: {v}" for k, v in reasons.items()))
    return sensor


class CombinedSensor(PowerSensor):
    """Several sensors with disjoint rails read as one (e.g. NVML GPUs + RAPL packages).

    Each reading is stamped at the midpoint of the sub-reads, which follow one another within
    well under a millisecond for sysfs and NVML.
    """

    name = "combined"
    Options = AutoOptions

    def __init__(self, sensors: list[PowerSensor]):
        self._sensors = sensors
        self.name = "+".join(s.name for s in sensors)  # type: ignore[misc]
        rails = [r for s in sensors for r in s.rails()]
        if len(set(rails)) != len(rails):
            raise ValueError(f"combined sensors share rail names: {rails}")

    @property
    def min_interval_s(self) -> float:
        """The slowest member's interval."""
        return max(s.min_interval_s for s in self._sensors)

    def rails(self) -> list[str]:
        """Every member's rails."""
        return [r for s in self._sensors for r in s.rails()]

    def summed_rails(self) -> list[str]:
        """Every member's summed rails."""
        return [r for s in self._sensors for r in s.summed_rails()]

    def read(self) -> Reading:
        """One reading of each member, merged."""
        parts = [s.read() for s in self._sensors]
        merged = Reading(t_ns=(parts[0].t_ns + parts[-1].t_ns) // 2)
        for p in parts:
            merged.power_w.update(p.power_w)
            merged.energy_j.update(p.energy_j)
            merged.extra.update(p.extra)
        return merged

    def close(self) -> None:
        """Close every member."""
        for s in self._sensors:
            s.close()

    def config(self) -> dict[str, Any]:
        """Each member's resolved options."""
        return {s.name: s.config() for s in self._sensors}
