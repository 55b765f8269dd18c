"""The power sensor plug-in interface: read per-rail power and/or cumulative energy.

A sensor is opened with its typed options and its side effects (the clock, a file reader, a
command runner) as constructor arguments; a constructor that cannot use the hardware raises
`SensorUnavailable` with the reason. Every `Reading` is stamped with the injected clock, which
must be the harness's clock (`time.perf_counter_ns`) so that samples line up with the measured
window.
"""

from __future__ import annotations

import dataclasses
import errno
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar

from agents.errors import SensorUnavailable, UserError

Clock = Callable[[], int]
Reader = Callable[[Path], str]


@dataclass
class Reading:
    """One sample of a sensor.

    Args:
        t_ns: when it was taken, on the sensor's clock (the harness's monotonic clock).
        power_w: rail -> instantaneous power in watts.
        energy_j: rail -> cumulative energy in joules, already unwrapped so that it never
            decreases (any origin: only differences are used).
        extra: other gauges read alongside, reported as their peak over the window under these
            names (e.g. `gpu_memory_peak_mb`).
    """

    t_ns: int
    power_w: dict[str, float] = field(default_factory=dict)
    energy_j: dict[str, float] = field(default_factory=dict)
    extra: dict[str, float] = field(default_factory=dict)


class PowerSensor(ABC):
    """A power or energy source. Subclasses import vendor SDKs lazily, inside methods."""

    name: ClassVar[str]
    Options: ClassVar[type]
    options: Any

    @property
    @abstractmethod
    def min_interval_s(self) -> float:
        """The shortest interval between reads that yields new data.

        Returns:
            Seconds; the sampler never polls faster than this.
        """

    @abstractmethod
    def rails(self) -> list[str]:
        """Every rail this sensor reports.

        Returns:
            Rail names, as they appear in each `Reading`.
        """

    @abstractmethod
    def summed_rails(self) -> list[str]:
        """The rails whose sum is the device's power, with no joule counted twice.

        Returns:
            A subset of `rails()` (e.g. the board input rail, not also its sub-rails).
        """

    @abstractmethod
    def read(self) -> Reading:
        """Take one sample now.

        Returns:
            The reading, stamped with the injected clock.
        Raises:
            SensorUnavailable: the sensor stopped answering.
        """

    @abstractmethod
    def close(self) -> None:
        """Release files, sockets, processes or SDK handles."""

    def config(self) -> dict[str, Any]:
        """The resolved options, stored with the run."""
        return dataclasses.asdict(self.options)


def read_text(path: Path) -> str:
    """The production file reader: the stripped contents of a sysfs file."""
    return path.read_text().strip()


def stamped(clock: Clock, fn: Callable[[], Any]) -> tuple[int, Any]:
    """Call `fn` and stamp its result with the midpoint of the call on `clock`.

    A slow read (a command, a socket) is best attributed to the middle of its duration.
    """
    t0 = clock()
    value = fn()
    return (t0 + clock()) // 2, value


def choose_rails(sensor: str, available: list[str], default: list[str],
                 wanted: list[str] | None) -> list[str]:
    """The rails to sum: the user's choice when given, else the sensor's default.

    Raises:
        UserError: a wanted rail that the sensor does not report, with the known ones.
    """
    if wanted is None:
        return default
    unknown = [r for r in wanted if r not in available]
    if unknown:
        raise UserError(f"power sensor '{sensor}': unknown rail(s) {', '.join(unknown)}; "
                        f"known: {', '.join(available)}")
    return list(wanted)


def sysfs(root: str, relative: str) -> Path:
    """`relative` (a /sys or /proc path) under the sensor's root."""
    return Path(root) / relative.lstrip("/")


def read_checked(reader: Reader, sensor: str, path: Path, hint: str = "") -> str:
    """Read a sysfs file, turning every failure into `SensorUnavailable` with a clear reason.

    Args:
        reader: the injected file reader.
        sensor: the sensor's name, for the message.
        path: the file.
        hint: appended to a permission-denied reason (how to grant access).
    Returns:
        The stripped contents.
    """
    try:
        return reader(path)
    except OSError as e:
        if isinstance(e, PermissionError) or e.errno in (errno.EACCES, errno.EPERM):
            reason = f"{path} is not readable by this user (permission denied)"
            raise SensorUnavailable(sensor, f"{reason}{'; ' + hint if hint else ''}") from e
        raise SensorUnavailable(sensor, f"cannot read {path}: {e.strerror or e}") from e


def read_number(reader: Reader, sensor: str, path: Path, hint: str = "") -> int:
    """An integer sysfs value (counters, µW, mV, mA), read as `read_checked` does."""
    text = read_checked(reader, sensor, path, hint)
    try:
        return int(text)
    except ValueError as e:
        raise SensorUnavailable(sensor, f"unexpected contents {text[:40]!r} in {path}") from e
