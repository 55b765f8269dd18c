"""Read the fleet from a benchlab inventory file (or an Ansible YAML inventory).

Which file: `--inventory PATH`, else `$BENCH_INVENTORY`, else `./lab.yaml` if it exists; with
none of them the fleet is the single device `local` (this machine).
"""

from __future__ import annotations

import os
from pathlib import Path

from inventory import fields as F
from inventory.ansible import read_ansible
from inventory.model import LOCAL_DEVICE, Device, Inventory, finish_inventory, parse_device
from inventory.yamlsrc import LMap, LSeq, Where, load_yaml

TOP_KEYS = ("devices", "groups", "defaults", "ansible")
DEFAULT_FILE = "lab.yaml"


def inventory_path(path: str | Path | None = None) -> Path | None:
    """The inventory file to read: the argument, `$BENCH_INVENTORY`, or `./lab.yaml` if present."""
    chosen = path or os.environ.get("BENCH_INVENTORY")
    if chosen:
        return Path(chosen)
    return Path(DEFAULT_FILE) if Path(DEFAULT_FILE).is_file() else None


def load_inventory(path: str | Path | None = None) -> Inventory:
    """The fleet. Without any inventory file: the device `local` alone.

    Raises:
        InventoryError: bad YAML (with its line), unknown keys, bad values, duplicate device
            names, groups naming unknown devices; each names the file and line.
    """
    chosen = inventory_path(path)
    if chosen is None:
        return Inventory(devices={"local": LOCAL_DEVICE})
    data = load_yaml(chosen)
    if _is_ansible(data):
        return read_ansible(data, Where(str(chosen)))
    return read_benchlab(data, chosen)


def _is_ansible(data) -> bool:
    # An Ansible YAML inventory is groups at the top (`all:` or any group with hosts/children).
    if not isinstance(data, LMap) or any(k in data for k in TOP_KEYS):
        return False
    return "all" in data or any(isinstance(v, LMap) and {"hosts", "children"} & set(v)
                                for v in data.values())


def read_benchlab(data, path: Path) -> Inventory:
    """Build the Inventory from a parsed benchlab inventory file."""
    where = Where(str(path), getattr(data, "line", 1) or 1)
    top = F.mapping(data, where)
    F.check_keys(top, TOP_KEYS, where, "the inventory")
    devices: dict[str, Device] = {}
    groups: dict[str, list[str]] = {}
    if "ansible" in top:
        _merge_ansible(top, path, devices, groups, where)
    defaults = F.mapping(top.get("defaults"), where.at(top.line_of("defaults"), field="defaults"))
    for item, line in _items(top.get("devices"), where.at(top.line_of("devices"), field="devices")):
        merged = _with_defaults(item, defaults, where.at(line))
        _add(devices, parse_device(merged, where.at(line)), where.at(line))
    _read_groups(top.get("groups"), devices, groups, where.at(top.line_of("groups")))
    return finish_inventory(devices, groups, str(path))


def _items(value, where: Where) -> list[tuple[LMap, int]]:
    if value is None:
        return []
    if not isinstance(value, LSeq):
        raise where.error("expected a list of devices (each a mapping with a name)")
    for item, line in zip(value, value.item_lines):
        F.mapping(item, where.at(line))
    return list(zip(value, value.item_lines))


def _with_defaults(item: LMap, defaults: LMap, where: Where) -> LMap:
    merged = LMap({**defaults, **item})
    merged.line = item.line or where.line or 0
    merged.key_lines = {**{k: defaults.line_of(k) for k in defaults}, **item.key_lines}
    return merged


def _add(devices: dict[str, Device], device: Device, where: Where) -> None:
    if device.name in devices:
        raise where.at(device=device.name, field="name").error(
            f"duplicate device name (first defined at {devices[device.name].source})")
    devices[device.name] = device


def _merge_ansible(top: LMap, path: Path, devices: dict, groups: dict, where: Where) -> None:
    w = where.at(top.line_of("ansible"), field="ansible")
    for rel in F.strings(top["ansible"], w):
        file = (path.parent / rel).expanduser()
        sub = read_ansible(load_yaml(file), Where(str(file)))
        for device in sub.devices.values():
            _add(devices, device, w)
        for name, members in sub.groups.items():
            groups.setdefault(name, []).extend(members)


def _read_groups(value, devices: dict[str, Device], groups: dict[str, list[str]], where: Where) -> None:
    data = F.mapping(value, where.at(field="groups"))
    for group, members in data.items():
        w = where.at(data.line_of(group), field=f"groups.{group}")
        for name in F.strings(members, w):
            if name not in devices:
                from inventory.selectors import nearest
                raise w.error(f"unknown device '{name}'{nearest(name, list(devices), 'devices')}")
            groups.setdefault(group, []).append(name)
