"""RAPL energy counters through Linux powercap (Intel, and AMD Zen with the same interface).

Each domain is a directory `/sys/class/powercap/intel-rapl:<package>[:<sub>]` holding
`name` (package-0, dram, core, uncore, psys), `energy_uj` (cumulative microjoules) and
`max_energy_range_uj` (where the counter wraps back to 0).

Summed by default: every package domain plus, with `dram`, its DRAM subdomain. `core` and
`uncore` are parts of their package and `psys` (the whole platform on client chips) contains
the packages, so adding them would count the same joules twice; they are still read as rails,
and `rails` can choose them instead.

Since Linux 5.10 `energy_uj` is readable by root only (a power side channel, CVE-2020-8694);
that case is reported as a permissions problem with the fix.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from agents.errors import SensorUnavailable
from agents.power.base import (Clock, PowerSensor, Reader, Reading, choose_rails, read_checked,
                               read_number, read_text, stamped, sysfs)

POWERCAP = "sys/class/powercap"
_PERMISSION_HINT = ("since Linux 5.10 energy_uj is readable by root only; run the agent as root "
                    "or grant read access (a udev rule, or `chmod a+r` on the intel-rapl "
                    "energy_uj files)")


@dataclass
class RaplOptions:
    """root: filesystem root holding /sys. dram: also sum the DRAM domains.
    rails: sum exactly these rails instead of the default."""

    root: str = "/"
    dram: bool = True
    rails: list[str] | None = None


@dataclass
class _Domain:
    path: Path
    rail: str
    max_uj: int
    last_uj: int = 0
    total_uj: int = 0


class RaplSensor(PowerSensor):
    """Package and DRAM energy counters, unwrapped into joules since the sensor was opened."""

    name = "rapl"
    Options = RaplOptions

    def __init__(self, options: RaplOptions, clock: Clock = time.perf_counter_ns,
                 reader: Reader = read_text):
        self.options, self._clock, self._read = options, clock, reader
        base = sysfs(options.root, POWERCAP)
        dirs = sorted(p for p in base.glob("intel-rapl:*") if (p / "energy_uj").exists())
        if not dirs:
            raise SensorUnavailable("rapl", f"no intel-rapl powercap domains under {base}")
        self._domains = [self._open(d, dirs) for d in dirs]
        self._rails = [d.rail for d in self._domains]
        default = [d.rail for d in self._domains if _summed(d.rail, options.dram)]
        self._summed = choose_rails("rapl", self._rails, default, options.rails)

    @property
    def min_interval_s(self) -> float:
        """RAPL updates about every millisecond; 5 ms keeps the sampler's cost negligible."""
        return 0.005

    def rails(self) -> list[str]:
        """package-N, package-N/dram, package-N/core ... (psys as `psys`)."""
        return list(self._rails)

    def summed_rails(self) -> list[str]:
        """Packages and (with `dram`) their DRAM domains, unless `rails` chose others."""
        return list(self._summed)

    def read(self) -> Reading:
        """Read every counter, unwrapping any that passed `max_energy_range_uj`."""
        t_ns, raw = stamped(self._clock,
                            lambda: [self._int(d.path / "energy_uj") for d in self._domains])
        energy = {}
        for dom, value in zip(self._domains, raw):
            step = value - dom.last_uj
            if step < 0:  # wrapped: the counter went past max_energy_range_uj back to 0
                step += dom.max_uj
            dom.total_uj += step
            dom.last_uj = value
            energy[dom.rail] = dom.total_uj / 1e6
        return Reading(t_ns=t_ns, energy_j=energy)

    def close(self) -> None:
        """Nothing is held open between reads."""

    def _open(self, path: Path, all_dirs: list[Path]) -> _Domain:
        name = self._text(path / "name")
        parts = path.name.split(":")
        if len(parts) > 2:  # a subdomain: name it after its package, e.g. package-0/dram
            parent = path.with_name(":".join(parts[:2]))
            name = f"{self._text(parent / 'name') if parent in all_dirs else parts[1]}/{name}"
        max_uj = self._int(path / "max_energy_range_uj")
        first = self._int(path / "energy_uj")
        return _Domain(path=path, rail=name, max_uj=max_uj, last_uj=first)

    def _int(self, path: Path) -> int:
        return read_number(self._read, "rapl", path, _PERMISSION_HINT)

    def _text(self, path: Path) -> str:
        return read_checked(self._read, "rapl", path, _PERMISSION_HINT)


def _summed(rail: str, dram: bool) -> bool:
    leaf = rail.rsplit("/", 1)[-1]
    return leaf.startswith("package") or (dram and leaf == "dram")
