"""Generic hwmon power and energy channels (PSUs, smart PDUs, AMD/ARM SoC monitors ...).

Layout: `/sys/class/hwmon/hwmon<N>/` with `name` (the driver), `power<i>_input` in microwatts
and `energy<i>_input` in microjoules, each optionally labelled by `power<i>_label` /
`energy<i>_label`. A rail is named `<driver name>/<label>` (`<driver name>/power<i>` when
unlabelled); a channel that has both power and energy under one label is one rail, and its
energy counter is preferred by the sampler.

By default every channel of every hwmon device with such files is summed. Some drivers report
overlapping channels (e.g. amd_energy has per-core and per-socket counters), so the rails that
were summed are stored with the run, and `devices` / `rails` narrow the sum.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

from agents.errors import SensorUnavailable
from agents.power.base import (Clock, PowerSensor, Reader, Reading, choose_rails, read_checked,
                               read_number, read_text, stamped, sysfs)

HWMON = "sys/class/hwmon"
_CHANNEL = re.compile(r"^(power|energy)(\d+)_input$")


@dataclass
class HwmonOptions:
    """root: filesystem root holding /sys. devices: only hwmon devices whose `name` is listed.
    rails: sum exactly these rails instead of all."""

    root: str = "/"
    devices: list[str] | None = None
    rails: list[str] | None = None


@dataclass
class _Channel:
    path: Path
    rail: str
    kind: str  # power | energy


class HwmonSensor(PowerSensor):
    """Every `power*_input` (µW) and `energy*_input` (µJ) channel found under /sys/class/hwmon."""

    name = "hwmon"
    Options = HwmonOptions

    def __init__(self, options: HwmonOptions, clock: Clock = time.perf_counter_ns,
                 reader: Reader = read_text):
        self.options, self._clock, self._read = options, clock, reader
        base = sysfs(options.root, HWMON)
        self._channels = self._scan(base)
        if not self._channels:
            wanted = f" named {', '.join(options.devices)}" if options.devices else ""
            raise SensorUnavailable("hwmon", f"no power*_input or energy*_input files in hwmon "
                                             f"devices{wanted} under {base}")
        self._rails = list(dict.fromkeys(c.rail for c in self._channels))
        self._summed = choose_rails("hwmon", self._rails, self._rails, options.rails)
        self._first = {c.rail: self._value(c) for c in self._channels if c.kind == "energy"}

    @property
    def min_interval_s(self) -> float:
        """hwmon drivers cache for tens of ms at best; polling faster returns repeats."""
        return 0.02

    def rails(self) -> list[str]:
        """`<driver name>/<label>` for each channel found."""
        return list(self._rails)

    def summed_rails(self) -> list[str]:
        """All rails, unless `rails` chose some."""
        return list(self._summed)

    def read(self) -> Reading:
        """Read every channel: power in W, energy in J since the sensor was opened."""
        t_ns, values = stamped(self._clock, lambda: [self._value(c) for c in self._channels])
        reading = Reading(t_ns=t_ns)
        for ch, value in zip(self._channels, values):
            if ch.kind == "power":
                reading.power_w[ch.rail] = value / 1e6
            else:
                reading.energy_j[ch.rail] = (value - self._first[ch.rail]) / 1e6
        return reading

    def close(self) -> None:
        """Nothing is held open between reads."""

    def _scan(self, base: Path) -> list[_Channel]:
        channels: list[_Channel] = []
        owners: dict[tuple[str, str], str] = {}
        for dev in sorted(base.glob("hwmon*"), key=_natural):
            driver = self._optional(dev / "name") or dev.name
            if self.options.devices is not None and driver not in self.options.devices:
                continue
            for ch in self._device_channels(dev, driver):
                # Two devices with one driver name: name the later one's rails after its dir.
                if owners.setdefault((ch.rail, ch.kind), dev.name) != dev.name:
                    ch.rail = ch.rail.replace(driver, f"{driver}.{dev.name}", 1)
                channels.append(ch)
        return channels

    def _device_channels(self, dev: Path, driver: str) -> list[_Channel]:
        found = []
        for path in sorted(dev.iterdir(), key=_natural):
            m = _CHANNEL.match(path.name)
            if m:
                kind, index = m.groups()
                label = self._optional(dev / f"{kind}{index}_label") or f"{kind}{index}"
                found.append(_Channel(path=path, rail=f"{driver}/{label}", kind=kind))
        return found

    def _optional(self, path: Path) -> str | None:
        return read_checked(self._read, "hwmon", path) if path.exists() else None

    def _value(self, ch: _Channel) -> int:
        return read_number(self._read, "hwmon", ch.path)


def _natural(path: Path) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name)]
