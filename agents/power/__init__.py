"""Power sensor registry: built-in sensors by module path, third-party ones by entry point.

    get_sensor("rapl", {"root": "/"})   # a PowerSensor, or SensorUnavailable with the reason
    get_sensor("auto")                  # what discovery finds (see agents.power.discover)
    known_sensors()                     # ['hwmon', 'jetson', 'meter', 'nvml', 'rapl', ...]

Nothing here imports a vendor SDK. Third parties register a `PowerSensor` subclass (with its
`Options` dataclass) through the `benchlab.power` entry-point group.
"""

from __future__ import annotations

import importlib
import time
from importlib.metadata import EntryPoint
from typing import Any, Callable

from agents.compat import entry_points
from agents.options import build_options
from agents.errors import UserError
from agents.power.base import Clock, PowerSensor, Reading

__all__ = ["PowerSensor", "Reading", "UnknownSensor", "check_options", "get_sensor",
           "known_sensors", "register", "sensor_class"]

_BUILTIN = {
    "hwmon": "agents.power.hwmon:HwmonSensor",
    "jetson": "agents.power.jetson:JetsonSensor",
    "meter": "agents.power.meter:MeterSensor",
    "nvml": "agents.power.nvml:NvmlSensor",
    "rapl": "agents.power.rapl:RaplSensor",
}
# Names that select no single sensor: `none` turns sampling off, `auto` runs discovery.
SPECIAL = ("auto", "none")
# A plug-in's entry point is loaded only when its sensor is asked for.
_EXTRA: dict[str, type[PowerSensor] | EntryPoint] = {}
_ENTRY_POINTS_LOADED = False


class UnknownSensor(UserError):
    """A sensor name that no built-in or plug-in provides."""


def register(name: str, cls: type[PowerSensor]) -> None:
    """Add a sensor class under `name`.

    Raises:
        ValueError: the name is already taken (or is auto/none).
    """
    if name in _BUILTIN or name in _EXTRA or name in SPECIAL:
        raise ValueError(f"power sensor '{name}' is already registered")
    _EXTRA[name] = cls


def known_sensors() -> list[str]:
    """Every sensor name, sorted (usable here or not); `auto` and `none` are not listed."""
    _load_entry_points()
    return sorted({*_BUILTIN, *_EXTRA})


def sensor_class(name: str) -> type[PowerSensor]:
    """The class registered as `name` (imports its benchlab module, not its SDK).

    Raises:
        UnknownSensor: no such sensor, with the known names.
    """
    _load_entry_points()
    if name in _BUILTIN:
        module, cls = _BUILTIN[name].split(":")
        return getattr(importlib.import_module(module), cls)
    if name in _EXTRA:
        found = _EXTRA[name]
        if isinstance(found, EntryPoint):
            found = _EXTRA[name] = found.load()
        return found
    known = ", ".join([*SPECIAL, *known_sensors()])
    raise UnknownSensor(f"unknown power sensor '{name}'; known: {known}")


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
    return build_options(sensor_class(name).Options, options or {},
                         f"power sensor '{name}' options")


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
    typed = check_options(name, options)
    if typed is None:
        raise UserError("power sensor 'none' opens no sensor")
    # Every sensor takes (options, clock=); the ABC itself declares no constructor.
    factory: Callable[..., PowerSensor] = sensor_class(name)
    return factory(typed, clock=clock)


def _load_entry_points() -> None:
    global _ENTRY_POINTS_LOADED
    if _ENTRY_POINTS_LOADED:
        return
    _ENTRY_POINTS_LOADED = True
    for ep in entry_points("benchlab.power"):
        if ep.name not in _BUILTIN and ep.name not in _EXTRA and ep.name not in SPECIAL:
            _EXTRA[ep.name] = ep
