"""The power sensor registry: built-in sensors by module path, plug-ins by entry point.

Its own module so that `agents.power.discover` can open sensors without importing
`agents.power` (which imports discover for `auto`).
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Type

from agents.errors import UserError
from agents.options import build_options
from agents.power.base import Clock, PowerSensor
from agents.registry import Registry

# Names that select no single sensor: `none` turns sampling off, `auto` runs discovery.
SPECIAL = ("auto", "none")


class UnknownSensor(UserError):
    """A sensor name that no built-in or plug-in provides."""


# A plug-in's entry point is loaded only when its sensor is asked for.
SENSORS: Registry[Type[PowerSensor]] = Registry("power sensor", "benchlab.power", {
    "hwmon": "agents.power.hwmon:HwmonSensor",
    "jetson": "agents.power.jetson:JetsonSensor",
    "meter": "agents.power.meter:MeterSensor",
    "nvml": "agents.power.nvml:NvmlSensor",
    "rapl": "agents.power.rapl:RaplSensor",
}, reserved=SPECIAL, error=UnknownSensor)


def sensor_class(name: str) -> Type[PowerSensor]:
    """The class registered as `name` (imports its benchlab module, not its SDK).

    Raises:
        UnknownSensor: no such sensor, with the known names.
    """
    return SENSORS.get(name)


def sensor_options(name: str, options: Optional[Dict[str, Any]] = None) -> Any:
    """The typed options of the sensor `name` (not auto/none), validated.

    Raises:
        UnknownSensor: unknown name. UserError: an unknown option key or a bad value.
    """
    return build_options(sensor_class(name).Options, options or {},
                         f"power sensor '{name}' options")


def open_sensor(name: str, options: Optional[Dict[str, Any]], clock: Clock) -> PowerSensor:
    """Open the sensor `name` (not auto/none) with its raw options; see `agents.power.get_sensor`.

    Raises:
        UnknownSensor, UserError: bad name or options.
        SensorUnavailable: the sensor cannot be used here, with the reason.
    """
    typed = sensor_options(name, options)
    # Every sensor takes (options, clock=); the ABC itself declares no constructor.
    factory: Callable[..., PowerSensor] = sensor_class(name)
    return factory(typed, clock=clock)
