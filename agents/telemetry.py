"""Device state before and after a run: temperatures, clocks, throttling, Jetson power mode.

Everything is read under an injected filesystem root, and `nvpmodel` through an injected
command runner, so that tests use fixture trees. Whatever a device does not expose is left
out (or None with a reason); nothing here fails a run.

Throttling is judged from the change between two snapshots, most direct evidence first:
x86 thermal-throttle counters, thermal cooling devices (not fans) stepping up, Jetson
over-current event counters, and a CPU policy's maximum frequency being lowered. A drop of
the fastest CPU's current frequency is used only where the kernel exposes no throttle
counter, because on x86 the turbo frequency falls as more cores get busy, which is not
throttling.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any, Callable, List

# Aliases are evaluated at run time: typing.List, not list[...], while boards run Python 3.8.
Runner = Callable[[List[str], float], str]
Reader = Callable[[Path], str]

CPU = "sys/devices/system/cpu"
THERMAL = "sys/class/thermal"


def run_command(argv: list[str], timeout_s: float) -> str:
    """The production runner: stdout of `argv`; raises OSError or SubprocessError on failure."""
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=True)
    return done.stdout


def _read_text(path: Path) -> str:
    return path.read_text().strip()


class Telemetry:
    """Snapshots of one device's thermal and clock state.

    Args:
        root: filesystem root holding /sys and /etc ("/" in production).
        runner: runs `nvpmodel -q` on a Jetson.
        reader: reads one sysfs file.
    """

    def __init__(self, root: Path | str = Path("/"), runner: Runner = run_command,
                 reader: Reader = _read_text):
        self.root, self._run, self._read = Path(root), runner, reader

    def snapshot(self) -> dict[str, Any]:
        """The device's state now.

        Returns:
            temperatures_c (zone type -> °C), cpu_freq_khz and cpu_max_freq_khz (cpuN -> kHz),
            cpu_governors (distinct governors), throttle_counts, cooling_states, oc_events,
            devfreq_hz (device -> Hz, e.g. a Jetson GPU), and power_mode on a Jetson.
        """
        snap: dict[str, Any] = {
            "temperatures_c": self.temperatures_c(),
            "cpu_freq_khz": self._per_cpu("cpufreq/scaling_cur_freq"),
            "cpu_max_freq_khz": self._per_cpu("cpufreq/scaling_max_freq"),
            "cpu_governors": sorted(set(self._per_cpu("cpufreq/scaling_governor", False).values())),
            "throttle_counts": self.throttle_counts(),
            "cooling_states": self.cooling_states(),
            "oc_events": self._numbers(self.root.glob("sys/class/hwmon/hwmon*/oc*_event_cnt"),
                                       lambda p: f"{p.parent.name}/{p.name}"),
            "devfreq_hz": self._numbers(self.root.glob("sys/class/devfreq/*/cur_freq"),
                                        lambda p: p.parent.name),
        }
        if self.is_jetson():
            snap["power_mode"] = self.power_mode()
        return snap

    def temperatures_c(self) -> dict[str, float]:
        """thermal_zone `type` -> degrees C (zones that cannot be read now are left out)."""
        temps: dict[str, float] = {}
        for zone in sorted(self.root.glob(f"{THERMAL}/thermal_zone*"), key=_natural):
            kind, milli = self._text(zone / "type"), self._int(zone / "temp")
            if milli is None:
                continue
            key = kind or zone.name
            temps[key if key not in temps else f"{key}@{zone.name}"] = round(milli / 1000, 1)
        return temps

    def throttle_counts(self) -> dict[str, int]:
        """x86 thermal_throttle counters summed over CPUs: core and package (absent elsewhere)."""
        counts: dict[str, int] = {}
        for kind in ("core", "package"):
            values = [self._int(p) for p in
                      self.root.glob(f"{CPU}/cpu[0-9]*/thermal_throttle/{kind}_throttle_count")]
            if any(v is not None for v in values):
                counts[kind] = sum(v for v in values if v is not None)
        return counts

    def cooling_states(self) -> dict[str, int]:
        """Thermal cooling devices other than fans: `type@cooling_deviceN` -> cur_state."""
        states: dict[str, int] = {}
        for dev in sorted(self.root.glob(f"{THERMAL}/cooling_device*"), key=_natural):
            kind = self._text(dev / "type") or ""
            state = self._int(dev / "cur_state")
            # A fan spinning up cools without slowing anything down: not throttling.
            if state is not None and "fan" not in kind.lower():
                states[f"{kind}@{dev.name}"] = state
        return states

    def is_jetson(self) -> bool:
        """Whether this is an NVIDIA Jetson (L4T writes /etc/nv_tegra_release)."""
        return (self.root / "etc/nv_tegra_release").exists()

    def power_mode(self) -> dict[str, Any]:
        """The nvpmodel power mode: {"name", "id"}, or None values with a reason."""
        try:
            text = self._run(["nvpmodel", "-q"], 10.0)
        except (OSError, subprocess.SubprocessError) as e:
            return {"name": None, "id": None, "reason": f"nvpmodel -q failed: {e}"}
        return parse_nvpmodel(text)

    def _per_cpu(self, relative: str, int_: bool = True) -> dict[str, Any]:
        found = {}
        for cpu in sorted(self.root.glob(f"{CPU}/cpu[0-9]*"), key=_natural):
            value = self._int(cpu / relative) if int_ else self._text(cpu / relative)
            if value is not None:
                found[cpu.name] = value
        return found

    def _numbers(self, paths, key: Callable[[Path], str]) -> dict[str, int]:
        return {key(p): v for p in sorted(paths) if (v := self._int(p)) is not None}

    def _text(self, path: Path) -> str | None:
        try:
            return self._read(path)
        except OSError:
            return None

    def _int(self, path: Path) -> int | None:
        text = self._text(path)
        try:
            return int(text) if text is not None else None
        except ValueError:
            return None


def parse_nvpmodel(text: str) -> dict[str, Any]:
    """Parse `nvpmodel -q`: a `NV Power Mode: <name>` line followed by the mode's id.

    Returns:
        {"name": "MAXN", "id": 0}; None values with a reason when the text has no mode.
    """
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for i, line in enumerate(lines):
        m = re.match(r"NV Power Mode\s*:\s*(.+)$", line)
        if m:
            ids = [int(x) for x in lines[i + 1:i + 2] if x.isdigit()]
            return {"name": m.group(1).strip(), "id": ids[0] if ids else None}
    return {"name": None, "id": None, "reason": f"no power mode in nvpmodel output {text[:80]!r}"}


def throttle_reasons(before: dict[str, Any], after: dict[str, Any],
                     drop_pct: float = 10.0) -> list[str]:
    """Why the device looks throttled between two snapshots (empty: no sign of it).

    Args:
        before, after: `Telemetry.snapshot()` results around the run.
        drop_pct: the fall of the fastest CPU's frequency that counts as throttling, used
            only where no throttle counter exists.
    Returns:
        One sentence per sign found.
    """
    reasons = [f"{label} {name} rose by {after[key][name] - old}"
               for key, label in (("throttle_counts", "thermal throttle count"),
                                  ("cooling_states", "cooling device"),
                                  ("oc_events", "over-current events"))
               for name, old in before.get(key, {}).items()
               if after.get(key, {}).get(name, old) > old]
    capped = [cpu for cpu, khz in before.get("cpu_max_freq_khz", {}).items()
              if after.get("cpu_max_freq_khz", {}).get(cpu, khz) < khz]
    if capped:
        reasons.append(f"maximum CPU frequency lowered on {', '.join(capped)}")
    fast_before = max(before.get("cpu_freq_khz", {}).values(), default=0)
    fast_after = max(after.get("cpu_freq_khz", {}).values(), default=0)
    if (not before.get("throttle_counts") and fast_before and fast_after
            and fast_after < fast_before * (1 - drop_pct / 100)):
        reasons.append(f"fastest CPU fell from {fast_before / 1e3:.0f} to "
                       f"{fast_after / 1e3:.0f} MHz (more than {drop_pct:g} %)")
    return reasons


def _natural(path: Path) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name)]
