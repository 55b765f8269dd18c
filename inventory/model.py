"""The fleet: devices, how to reach each one, what it is, and groups of devices.

One typed config per transport (`LocalConfig`, `SshConfig`, `RayConfig`); a device's mapping in
the inventory holds the common fields and the fields of its transport, nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from agents.spec import PowerSpec
from inventory import fields as F
from inventory.yamlsrc import LMap, Where

TRANSPORTS = ("local", "ssh", "ray")


@dataclass(frozen=True)
class LocalConfig:
    """This machine. Several local devices can share it, each pinned to its own CPUs.

    Args:
        cpus: CPU numbers the agent is pinned to (affinity), None for all.
        threads: inference threads given to every engine (unless a job sets its own).
        python: the interpreter that runs the agent (default: the orchestrator's).
    """

    cpus: tuple[int, ...] | None = None
    threads: int | None = None
    python: str | None = None


@dataclass(frozen=True)
class SshConfig:
    """A board reached over SSH."""

    host: str
    port: int = 22
    user: str | None = None
    key: str | None = None
    known_hosts: str | None = None
    python: str | None = None
    trust_on_first_use: bool | None = None
    remote_dir: str | None = None


@dataclass(frozen=True)
class RayConfig:
    """A Ray node that carries the custom resource `resource` (default `device:<name>`).

    Args:
        resource: the node's custom resource.
        address: the cluster (default: RAY_ADDRESS or a cluster on this host).
        pip: packages Ray installs on the node for this device's tasks (its `runtime_env`).
    """

    resource: str
    address: str | None = None
    pip: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Cost:
    """What the device costs: purchase price and/or rent per hour (for cost per inference)."""

    price_usd: float | None = None
    cost_per_hour_usd: float | None = None


@dataclass(frozen=True)
class Device:
    """One board or host of the fleet, as the inventory describes it."""

    name: str
    transport: str = "local"
    connection: LocalConfig | SshConfig | RayConfig = field(default_factory=LocalConfig)
    tags: tuple[str, ...] = ()
    arch: str | None = None
    accelerators: tuple[str, ...] = ()
    engines: tuple[str, ...] = ()
    power: PowerSpec | None = None
    cost: Cost | None = None
    tdp_w: float | None = None
    notes: str | None = None
    groups: tuple[str, ...] = ()
    source: str = "built-in"

    def describe(self) -> dict[str, Any]:
        """The inventory facts stored with the device in the database (dashboards use cost)."""
        return {"transport": self.transport, "tags": list(self.tags), "arch": self.arch,
                "accelerators": list(self.accelerators), "engines": list(self.engines),
                "groups": list(self.groups), "tdp_w": self.tdp_w, "notes": self.notes,
                "cost": None if self.cost is None else vars(self.cost),
                "power": None if self.power is None else vars(self.power), "source": self.source}


@dataclass(frozen=True)
class Inventory:
    """Devices by name (in file order) and groups (name -> device names)."""

    devices: dict[str, Device]
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)
    source: str = "built-in"


def finish_inventory(devices: dict[str, Device], groups: dict[str, list[str]], source: str) -> Inventory:
    """Freeze devices and groups into an Inventory, recording each device's groups."""
    frozen = {g: tuple(dict.fromkeys(names)) for g, names in groups.items()}
    member_of: dict[str, list[str]] = {}
    for group, names in frozen.items():
        for name in names:
            member_of.setdefault(name, []).append(group)
    devices = {n: replace(d, groups=tuple(member_of.get(n, ()))) for n, d in devices.items()}
    return Inventory(devices=devices, groups=frozen, source=source)


LOCAL_DEVICE = Device(name="local", tags=("local",), source="built-in (no inventory file)")

COMMON_KEYS = ("name", "transport", "tags", "arch", "accelerators", "engines", "power", "cost",
               "tdp_w", "notes")
TRANSPORT_KEYS = {"local": ("cpus", "threads", "python"),
                  "ssh": ("host", "port", "user", "key", "known_hosts", "python",
                          "trust_on_first_use", "remote_dir"),
                  "ray": ("resource", "address", "pip")}


def parse_device(data: LMap, where: Where) -> Device:
    """Build a Device from its mapping.

    Raises:
        InventoryError: an unknown key, a key of another transport, or a bad value, naming the
            file, line, device and field.
    """
    name = F.string(data.get("name"), where.at(data.line_of("name"), field="name"))
    where = where.at(data.line, device=name)
    transport = F.string(data.get("transport", "local"), _w(data, where, "transport"))
    if transport not in TRANSPORTS:
        raise _w(data, where, "transport").error(
            f"unknown transport '{transport}'; known: {', '.join(TRANSPORTS)}")
    _check_transport_keys(data, transport, where)
    return Device(
        name=name, transport=transport, connection=_connection(data, transport, name, where),
        tags=F.strings(data.get("tags"), _w(data, where, "tags")),
        arch=F.string(data.get("arch"), _w(data, where, "arch"), optional=True),
        accelerators=F.strings(data.get("accelerators"), _w(data, where, "accelerators")),
        engines=F.strings(data.get("engines"), _w(data, where, "engines")),
        power=_power(data.get("power"), _w(data, where, "power")),
        cost=_cost(data.get("cost"), _w(data, where, "cost")),
        tdp_w=F.number(data.get("tdp_w"), _w(data, where, "tdp_w"), minimum=0),
        notes=F.string(data.get("notes"), _w(data, where, "notes"), optional=True),
        source=f"{where.file}:{data.line}")


def _w(data: LMap, where: Where, key: str) -> Where:
    return where.at(data.line_of(key), field=key)


def _check_transport_keys(data: LMap, transport: str, where: Where) -> None:
    for key in data:
        owner = next((t for t, keys in TRANSPORT_KEYS.items() if key in keys), None)
        if owner and key not in TRANSPORT_KEYS[transport]:
            raise _w(data, where, key).error(
                f"'{key}' is a field of transport {owner}; this device uses {transport}")
    F.check_keys(data, COMMON_KEYS + TRANSPORT_KEYS[transport], where, f"a {transport} device")


def _connection(data: LMap, transport: str, name: str, where: Where):
    if transport == "local":
        return LocalConfig(cpus=F.cpu_list(data.get("cpus"), _w(data, where, "cpus")),
                           threads=F.integer(data.get("threads"), _w(data, where, "threads"), 1),
                           python=F.string(data.get("python"), _w(data, where, "python"), True))
    if transport == "ssh":
        if "host" not in data:
            raise where.at(field="host").error("an ssh device needs a host")
        return SshConfig(host=F.string(data["host"], _w(data, where, "host")),
                         port=F.integer(data.get("port", 22), _w(data, where, "port"), 1),
                         user=F.string(data.get("user"), _w(data, where, "user"), True),
                         key=F.string(data.get("key"), _w(data, where, "key"), True),
                         known_hosts=F.string(data.get("known_hosts"), _w(data, where, "known_hosts"), True),
                         python=F.string(data.get("python"), _w(data, where, "python"), True),
                         trust_on_first_use=_flag(data, where, "trust_on_first_use"),
                         remote_dir=F.string(data.get("remote_dir"), _w(data, where, "remote_dir"), True))
    return RayConfig(resource=F.string(data.get("resource", f"device:{name}"), _w(data, where, "resource")),
                     address=F.string(data.get("address"), _w(data, where, "address"), True),
                     pip=F.strings(data["pip"], _w(data, where, "pip")) if "pip" in data else None)


def _flag(data: LMap, where: Where, key: str) -> bool | None:
    value = data.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise _w(data, where, key).error(f"'{key}' must be true or false, got {value!r}")


def _power(value: Any, where: Where) -> PowerSpec | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = LMap(sensor=value)
        value.line, value.key_lines = where.line or 0, {}
    data = F.mapping(value, where)
    F.check_keys(data, ("sensor", "options", "rate_hz", "idle_s"), where, "power")
    options = F.mapping(data.get("options"), where.at(data.line_of("options"), field="options"))
    spec = PowerSpec(sensor=F.string(data.get("sensor"), where.at(data.line_of("sensor"), field="sensor")),
                     options=dict(options),
                     rate_hz=F.number(data.get("rate_hz", 20.0), where.at(field="rate_hz"), 0.1),
                     idle_s=F.number(data.get("idle_s", 2.0), where.at(field="idle_s"), 0))
    _check_sensor(spec, where)
    return spec


def _check_sensor(spec: PowerSpec, where: Where) -> None:
    from agents.errors import UserError
    from agents.power import check_options
    try:
        check_options(spec.sensor, spec.options)
    except UserError as e:
        raise where.error(str(e)) from None


def _cost(value: Any, where: Where) -> Cost | None:
    if value is None:
        return None
    data = F.mapping(value, where)
    F.check_keys(data, ("price_usd", "cost_per_hour_usd"), where, "cost")
    return Cost(price_usd=F.number(data.get("price_usd"), where.at(data.line_of("price_usd"), field="price_usd"), 0),
                cost_per_hour_usd=F.number(data.get("cost_per_hour_usd"),
                                           where.at(data.line_of("cost_per_hour_usd"), field="cost_per_hour_usd"), 0))
