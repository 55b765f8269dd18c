"""NVIDIA Jetson power rails: the INA3221 / INA238 monitors on the module and carrier board.

Three places to find them, tried in this order:

- JetPack 4 (L4T 32, iio driver `ina3221x`):
  `/sys/bus/i2c/drivers/ina3221x/<bus-addr>/iio:device<k>/in_power<i>_input` (mW) named by
  `rail_name_<i>`.
- JetPack 5 and 6 (L4T 35, 36, hwmon drivers `ina3221` / `ina238`):
  `/sys/class/hwmon/hwmon<N>/` with `name`, `in<i>_label`, `in<i>_input` (bus voltage, mV) and
  `curr<i>_input` (mA); power = V x I. INA3221 channels are 1..3 (4..7 are shunt voltages and
  sums), an INA238 has channel 1. Channels labelled `NC` (not connected) are skipped.
- `tegrastats` output (see `agents.power.tegrastats`) when neither is visible.

Summed by default: the board's input rail when there is one (`VDD_IN` on Orin and Xavier NX,
`POM_5V_IN` on Nano), because the other rails are parts of it; otherwise (AGX Xavier, AGX Orin)
all rails.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from agents.errors import SensorUnavailable, UserError
from agents.power.base import (Clock, PowerSensor, Reader, Reading, choose_rails, read_checked,
                               read_number, read_text, stamped, sysfs)
from agents.power.tegrastats import Spawn, TegrastatsStream

IIO = "sys/bus/i2c/drivers/ina3221x"
HWMON = "sys/class/hwmon"
_CHANNELS = {"ina3221": (1, 2, 3), "ina238": (1,)}
_INPUT_RAIL = re.compile(r"(^|_)IN$")
SOURCES = ("auto", "sysfs", "tegrastats")


@dataclass
class JetsonOptions:
    """root: filesystem root holding /sys. source: auto, sysfs or tegrastats.
    tegrastats: the tegrastats command. interval_ms: its --interval.
    rails: sum exactly these rails instead of the default."""

    root: str = "/"
    source: str = "auto"
    tegrastats: str = "tegrastats"
    interval_ms: int = 100
    rails: list[str] | None = None

    def validate(self, source: str) -> None:
        """Reject a source or interval tegrastats would not accept, naming the option."""
        if self.source not in SOURCES:
            raise UserError(f"{source}: source must be one of {', '.join(SOURCES)}")
        if not shlex.split(self.tegrastats):
            raise UserError(f"{source}: tegrastats may not be empty")
        if self.interval_ms < 10:
            raise UserError(f"{source}: interval_ms must be >= 10, got {self.interval_ms}")


@dataclass
class _Rail:
    name: str
    power_mw: Path | None = None
    volt_mv: Path | None = None
    curr_ma: Path | None = None


class JetsonSensor(PowerSensor):
    """Jetson INA rails in watts, from sysfs or, failing that, from tegrastats."""

    name = "jetson"
    Options = JetsonOptions

    def __init__(self, options: JetsonOptions, clock: Clock = time.perf_counter_ns,
                 reader: Reader = read_text, spawn: Spawn = subprocess.Popen):
        self.options, self._clock, self._read = options, clock, reader
        self._stream: TegrastatsStream | None = None
        self._sysfs: list[_Rail] = []
        if options.source != "tegrastats":
            self._sysfs = self._iio_rails() or self._hwmon_rails()
        if self._sysfs:
            names = [r.name for r in self._sysfs]
        else:
            self._stream = self._open_tegrastats(spawn)
            names = list(self._stream.latest()[1])
        self._rails = names
        inputs = [r for r in names if _INPUT_RAIL.search(r)]
        self._summed = choose_rails("jetson", names, inputs[:1] or names, options.rails)

    @property
    def min_interval_s(self) -> float:
        """INA3221 conversions take ~10 ms; tegrastats prints once per interval."""
        return self.options.interval_ms / 1e3 if self._stream else 0.01

    def rails(self) -> list[str]:
        """The rail names as the board labels them (VDD_IN, POM_5V_GPU ...)."""
        return list(self._rails)

    def summed_rails(self) -> list[str]:
        """The input rail when there is one, else every rail (or the `rails` option)."""
        return list(self._summed)

    def source(self) -> str:
        """Where the rails are read: sysfs or tegrastats."""
        return "tegrastats" if self._stream else "sysfs"

    def read(self) -> Reading:
        """Power of every rail; from tegrastats, the newest line stamped when it arrived."""
        if self._stream:
            t_ns, mw = self._stream.latest()
            return Reading(t_ns=t_ns, power_w={k: v / 1e3 for k, v in mw.items()})
        t_ns, watts = stamped(self._clock, lambda: [self._watts(r) for r in self._sysfs])
        return Reading(t_ns=t_ns, power_w=dict(zip(self._rails, watts)))

    def close(self) -> None:
        """Stop tegrastats if it was started."""
        if self._stream:
            self._stream.close()

    def _watts(self, rail: _Rail) -> float:
        if rail.power_mw is not None:
            return read_number(self._read, "jetson", rail.power_mw) / 1e3
        assert rail.volt_mv is not None and rail.curr_ma is not None
        mv = read_number(self._read, "jetson", rail.volt_mv)
        ma = read_number(self._read, "jetson", rail.curr_ma)
        return mv * ma / 1e6

    def _iio_rails(self) -> list[_Rail]:
        rails = []
        for dev in sorted(sysfs(self.options.root, IIO).glob("*/iio:device*")):
            for power in sorted(dev.glob("in_power*_input")):
                index = power.name[len("in_power"):-len("_input")]
                name = read_checked(self._read, "jetson", dev / f"rail_name_{index}")
                if name != "NC":
                    rails.append(_Rail(name=name, power_mw=power))
        return rails

    def _hwmon_rails(self) -> list[_Rail]:
        rails = []
        for dev in sorted(sysfs(self.options.root, HWMON).glob("hwmon*")):
            driver = self._optional(dev / "name") or ""
            for i in _CHANNELS.get(driver, ()):
                volt, curr = dev / f"in{i}_input", dev / f"curr{i}_input"
                if not (volt.exists() and curr.exists()):
                    continue
                name = self._optional(dev / f"in{i}_label") or f"{driver}.{dev.name}/ch{i}"
                if name != "NC":
                    rails.append(_Rail(name=name, volt_mv=volt, curr_ma=curr))
        return rails

    def _optional(self, path: Path) -> str | None:
        return read_checked(self._read, "jetson", path) if path.exists() else None

    def _open_tegrastats(self, spawn: Spawn) -> TegrastatsStream:
        command = shlex.split(self.options.tegrastats)
        no_sysfs = f"no INA3221/INA238 rails under {sysfs(self.options.root, 'sys')}"
        if self.options.source == "auto" and shutil.which(command[0]) is None:
            raise SensorUnavailable("jetson", f"{no_sysfs} and no `{command[0]}` command")
        if self.options.source == "sysfs":
            raise SensorUnavailable("jetson", no_sysfs)
        return TegrastatsStream(command, self.options.interval_ms, self._clock, spawn)
