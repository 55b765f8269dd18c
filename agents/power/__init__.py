"""Power sensor registry: built-in sensors by module path, third-party ones by entry point.

    get_sensor("rapl", {"root": "/"})   # a PowerSensor, or SensorUnavailable with the reason
    get_sensor("auto")                  # what discovery finds (see agents.power.discover)
    known_sensors()                     # ['hwmon', 'jetson', 'meter', 'nvml', 'rapl', ...]

Nothing here imports a vendor SDK. Third parties register a `PowerSensor` subclass (with its
`Options` dataclass) through the `benchlab.power` entry-point group.
"""

from __future__ import annotations

import time
from typing import Any

from agents.errors import UserError
from agents.options import build_options
from agents.power import registry
from agents.power.base import Clock, PowerSensor, Reading
from agents.power.registry import SPECIAL, UnknownSensor

__all__ = ["PowerSensor", "Reading", "SPECIAL", "UnknownSensor", "check_options", "get_sensor",
           "known_sensors", "register", "sensor_class"]


def register(name: str, cls: type[PowerSensor]) -> None:
    """Add a sensor class under `name`.

    Raises:
        ValueError: the name is already taken (or is auto/none).
    """
    registry.SENSORS.register(name, cls)


def known_sensors() -> list[str]:
    """Every sensor name, sorted (usable here or not); `auto` and `none` are not listed."""
    return registry.SENSORS.names()


def sensor_class(name: str) -> type[PowerSensor]:
    """The class registered as `name` (imports its benchlab module, not its SDK).

    Raises:
        UnknownSensor: no such sensor, with the known names.
    """
    return registry.sensor_class(name)


def check_options(name: str, options: dict[str, Any] | None = None) -> Any:
    """Validate a sensor name and its options without touching the hardware.

    Returns:
        The typed options (None for `none`).
    Raises:
        UnknownSensor: unknown name. UserError: an unknown option key or a bad value.
    """
    if name == "none":
        if options:
            raise UserError(f"power sensor 'none' takes no options; got {', '.join(options)}")
        return None
    if name == "auto":
        from agents.power.discover import AutoOptions
        return build_options(AutoOptions, options or {}, "power sensor 'auto' options")
    return registry.sensor_options(name, options)


def get_sensor(name: str, options: dict[str, Any] | None = None,
               clock: Clock = time.perf_counter_ns) -> PowerSensor:
    """Open the sensor called `name` with its raw options.

    Args:
        name: a registered name, or `auto` for discovery.
        options: the sensor's options (`PowerSpec.options`); unknown keys are rejected.
        clock: stamps every reading; must be the harness's clock.
    Returns:
        An open sensor; the caller closes it.
    Raises:
        UnknownSensor, UserError: bad name or options.
        SensorUnavailable: the sensor cannot be used here, with the reason.
    """
    if name == "auto":
        from agents.power.discover import open_auto
        return open_auto(options or {}, clock)
    if name == "none":
        check_options(name, options)
        raise UserError("power sensor 'none' opens no sensor")
    return registry.open_sensor(name, options, clock)
