"""tegrastats: parse its power fields, and keep the latest line of a running tegrastats.

The Jetson sensor falls back to this when the INA rails are not visible in sysfs (a container
without /sys/bus/i2c, an unknown carrier board). Power fields are `<RAIL> <now>/<average>` in
milliwatts; JetPack 5 and 6 add the unit:

    JetPack 4 (L4T 32), Nano:   ... POM_5V_IN 2000/2000 POM_5V_GPU 0/0 POM_5V_CPU 123/123
    JetPack 4, Xavier NX:       ... VDD_IN 3944/3944 VDD_CPU_GPU_CV 516/516 VDD_SOC 1079/1079
    JetPack 5 / 6 (L4T 35, 36): ... VDD_IN 5000mW/5000mW VDD_CPU_GPU_CV 1000mW/1000mW

Memory fields (`RAM 1216/3956MB`, `IRAM 0/252kB`) share the shape but end in a unit other
than mW, which the pattern's look-ahead rejects.
"""

from __future__ import annotations

import re
import subprocess
import threading
from typing import Callable

from agents.errors import SensorUnavailable
from agents.power.base import Clock

_RAIL = re.compile(r"(?<![\w/])([A-Z][A-Z0-9_]*) (\d+)(?:mW)?/(\d+)(?:mW)?(?=\s|$)")
Spawn = Callable[..., subprocess.Popen]


def parse_power_mw(line: str) -> dict[str, int]:
    """The instantaneous power of every rail on one tegrastats line.

    Args:
        line: one line of tegrastats output, any JetPack version.
    Returns:
        rail -> milliwatts now (the second number, a running average, is ignored).
    """
    return {m.group(1): int(m.group(2)) for m in _RAIL.finditer(line)}


class TegrastatsStream:
    """A running `tegrastats --interval N` whose newest parsed line is kept with its arrival time.

    Args:
        command: the tegrastats command (a wrapper such as `stdbuf -oL tegrastats` works too).
        interval_ms: passed as `--interval`.
        clock: stamps each line as it arrives (the harness's clock).
        spawn: starts the process (`subprocess.Popen` in production).
        first_line_s: how long to wait for the first line with power rails.
    Raises:
        SensorUnavailable: the command is missing, or printed no power rails in time.
    """

    def __init__(self, command: list[str], interval_ms: int, clock: Clock,
                 spawn: Spawn = subprocess.Popen, first_line_s: float = 5.0):
        self._clock = clock
        self._lock = threading.Lock()
        self._first = threading.Event()
        self._latest: tuple[int, dict[str, int]] | None = None
        argv = [*command, "--interval", str(interval_ms)]
        try:
            self._proc = spawn(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True, bufsize=1)
        except OSError as e:
            raise SensorUnavailable("jetson", f"cannot start {' '.join(argv)}: {e}") from e
        self._thread = threading.Thread(target=self._pump, name="tegrastats", daemon=True)
        self._thread.start()
        if not self._first.wait(first_line_s + interval_ms / 1e3):
            self.close()
            raise SensorUnavailable("jetson", f"{' '.join(argv)} printed no power rails within "
                                              f"{first_line_s + interval_ms / 1e3:.1f} s")

    def latest(self) -> tuple[int, dict[str, int]]:
        """(arrival time in ns, rail -> mW) of the newest line.

        Raises:
            SensorUnavailable: tegrastats has exited.
        """
        code = self._proc.poll()
        if code is not None:
            raise SensorUnavailable("jetson", f"tegrastats exited with code {code}")
        with self._lock:
            assert self._latest is not None  # the constructor waited for the first line
            return self._latest

    def close(self) -> None:
        """Stop tegrastats and its reader thread."""
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._thread.join(timeout=2)
        if self._proc.stdout:
            self._proc.stdout.close()

    def _pump(self) -> None:
        for line in self._proc.stdout or ():
            rails = parse_power_mw(line)
            if rails:
                with self._lock:
                    self._latest = (self._clock(), rails)
                self._first.set()
