"""Read an Ansible YAML inventory, so a lab that already has one does not write it twice.

Every host becomes an ssh device (`ansible_connection: local` makes it a local one).
Connection vars map to device fields (`ansible_host` -> host, `ansible_port` -> port,
`ansible_user` -> user, `ansible_ssh_private_key_file` -> key, `ansible_python_interpreter`
-> python); `benchlab_<field>` vars set any other device field (`benchlab_tags`,
`benchlab_arch`, `benchlab_engines`, `benchlab_power` ...). Vars inherit all -> parent group
-> child group -> host. Ansible groups (except `all` and `ungrouped`) become benchlab groups.
Other Ansible vars are Ansible's business and are ignored; an unknown `benchlab_` var is refused.
"""

from __future__ import annotations

from inventory import fields as F
from inventory.model import (COMMON_KEYS, TRANSPORT_KEYS, Device, Inventory, finish_inventory,
                             parse_device)
from inventory.yamlsrc import LMap, Where

_CONNECTION = {"ansible_host": "host", "ansible_port": "port", "ansible_user": "user",
               "ansible_ssh_private_key_file": "key", "ansible_python_interpreter": "python"}
_FIELDS = tuple(k for k in COMMON_KEYS if k not in ("name", "transport")) + \
    ("transport", "cpus", "threads", "known_hosts", "resource", "address")
_IMPLICIT_GROUPS = ("all", "ungrouped")


def read_ansible(data, where: Where) -> Inventory:
    """Build an Inventory from a parsed Ansible YAML inventory.

    Raises:
        InventoryError: a malformed group or host, or a bad `benchlab_` var, with its line.
    """
    top = F.mapping(data, where)
    hosts: dict[str, tuple[LMap, int]] = {}
    groups: dict[str, list[str]] = {}
    for name, group in top.items():
        _walk(name, group, LMap(), hosts, groups, where.at(top.line_of(name)))
    devices: dict[str, Device] = {}
    for host, (vars_, line) in hosts.items():
        devices[host] = _device(host, vars_, where.at(line, device=host))
    return finish_inventory(devices, groups, where.file)


def _walk(name: str, group, inherited: LMap, hosts: dict, groups: dict, where: Where) -> None:
    w = where.at(field=f"group {name}")
    data = F.mapping(group, w)
    F.check_keys(data, ("hosts", "vars", "children"), w, f"Ansible group '{name}'")
    vars_ = _merge(inherited, F.mapping(data.get("vars"), w.at(data.line_of("vars"))))
    members = F.mapping(data.get("hosts"), w.at(data.line_of("hosts")))
    for host, host_vars in members.items():
        line = members.line_of(host)
        own = F.mapping(host_vars, where.at(line, device=host))
        previous = hosts.get(host, (LMap(), line))[0]
        hosts[host] = (_merge(_merge(previous, vars_), own), line)
        if name not in _IMPLICIT_GROUPS:
            groups.setdefault(name, []).append(host)
    children = F.mapping(data.get("children"), w.at(data.line_of("children")))
    for child, sub in children.items():
        _walk(child, sub, vars_, hosts, groups, where.at(children.line_of(child)))
        if name not in _IMPLICIT_GROUPS:  # a parent group holds its children's hosts
            groups.setdefault(name, []).extend(groups.get(child, []))


def _merge(base: LMap, over: LMap) -> LMap:
    out = LMap({**base, **over})
    out.line = over.line or base.line
    out.key_lines = {**getattr(base, "key_lines", {}), **getattr(over, "key_lines", {})}
    return out


def _device(host: str, vars_: LMap, where: Where) -> Device:
    fields = LMap(name=host)
    fields.line, fields.key_lines = where.line or 0, {}
    local = vars_.get("ansible_connection") == "local"
    fields["transport"] = "local" if local else "ssh"
    for var, key in _CONNECTION.items():
        if var in vars_ and not (local and key in ("host", "port", "user", "key")):
            fields[key], fields.key_lines[key] = vars_[var], vars_.line_of(var)
    if not local:
        fields.setdefault("host", host)
    for var, value in vars_.items():
        if not var.startswith("benchlab_"):
            continue
        key = var[len("benchlab_"):]
        if key not in _FIELDS:
            raise where.at(vars_.line_of(var), field=var).error(
                f"unknown benchlab var '{var}'; known: {', '.join('benchlab_' + f for f in _FIELDS)}")
        fields[key], fields.key_lines[key] = value, vars_.line_of(var)
    if fields["transport"] == "local":
        for key in TRANSPORT_KEYS["ssh"]:
            if key != "python":
                fields.pop(key, None)
    return parse_device(fields, where)
