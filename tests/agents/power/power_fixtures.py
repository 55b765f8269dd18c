"""Helpers for the power tests: sysfs trees in the real layouts, and counters that advance.

Files are replaced atomically (write a temporary file, then rename), as sysfs values are:
a reader never sees a half-written number.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RAPL_MAX_UJ = 262143328850  # a real max_energy_range_uj (about 262 kJ)


def put(path: Path, text: object) -> None:
    """Write `text` to `path` atomically, creating parent directories."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(f"{text}\n")
    os.replace(tmp, path)


def rapl_tree(root: Path, packages: int = 1, max_uj: int = RAPL_MAX_UJ, dram: bool = True,
              psys: bool = True) -> dict[str, Path]:
    """A powercap tree as on an Intel server/laptop: devices/virtual/powercap/intel-rapl/... with
    /sys/class/powercap/intel-rapl:* symlinks. Returns rail name -> its energy_uj file."""
    base = root / "sys/devices/virtual/powercap/intel-rapl"
    klass = root / "sys/class/powercap"
    klass.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}

    def domain(path: Path, name: str, rail: str) -> None:
        put(path / "name", name)
        put(path / "max_energy_range_uj", max_uj)
        put(path / "energy_uj", 0)
        put(path / "enabled", 1)
        (klass / path.name).symlink_to(path)
        files[rail] = path / "energy_uj"

    for p in range(packages):
        pkg = base / f"intel-rapl:{p}"
        domain(pkg, f"package-{p}", f"package-{p}")
        domain(pkg / f"intel-rapl:{p}:0", "core", f"package-{p}/core")
        if dram:
            domain(pkg / f"intel-rapl:{p}:1", "dram", f"package-{p}/dram")
    if psys:
        domain(base / f"intel-rapl:{packages}", "psys", "psys")
    return files


def hwmon_device(root: Path, index: int, name: str, files: dict[str, object]) -> Path:
    """/sys/class/hwmon/hwmon<index> with `name` and the given attribute files."""
    dev = root / f"sys/class/hwmon/hwmon{index}"
    put(dev / "name", name)
    for fname, value in files.items():
        put(dev / fname, value)
    return dev


class CounterWriter(threading.Thread):
    """Advances energy counters (µJ files) at a settable power, like the hardware would.

    Args:
        files: energy_uj file -> watts.
        max_uj: wrap the written value at this range (as RAPL does), or never when None.
        period_s: how often the files are rewritten.
    """

    def __init__(self, files: dict[Path, float], max_uj: int | None = None,
                 period_s: float = 0.001):
        super().__init__(daemon=True)
        self.watts = dict(files)
        self.max_uj, self.period_s = max_uj, period_s
        self.energy_uj = {f: 0.0 for f in files}
        self.wraps = 0
        self._halt = threading.Event()
        self._lock = threading.Lock()
        self._last = time.perf_counter_ns()

    def set_watts(self, path: Path, watts: float) -> None:
        """Change one counter's power from now on."""
        with self._lock:
            self._advance()
            self.watts[path] = watts

    def run(self) -> None:
        while not self._halt.wait(self.period_s):
            with self._lock:
                self._advance()

    def stop(self) -> None:
        self._halt.set()
        self.join()

    def __enter__(self) -> CounterWriter:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _advance(self) -> None:
        now = time.perf_counter_ns()
        dt_ns, self._last = now - self._last, now
        for path, watts in self.watts.items():
            before = self.energy_uj[path]
            self.energy_uj[path] = before + watts * dt_ns / 1e3  # W x ns = 1e-3 µJ
            value = int(self.energy_uj[path])
            if self.max_uj is not None:
                if value // self.max_uj > int(before) // self.max_uj:
                    self.wraps += 1
                value %= self.max_uj
            put(path, value)
