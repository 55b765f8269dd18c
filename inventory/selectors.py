"""Device selectors: which devices of the fleet a job may run on.

    name:jetson-01   one device by name (shell globs allowed: name:jetson-*); a bare word is a name
    tag:jetson       devices with this tag
    arch:aarch64     devices of this architecture
    group:lab-a      members of this inventory group
    all              every device

`,` is a union and `+` an intersection, and `+` binds tighter: `tag:jetson+group:lab-a,name:x86-01`
is (jetson AND in lab-a) OR x86-01. A term that matches nothing is an error that lists the
nearest names, so a typo never silently selects an empty fleet.
"""

from __future__ import annotations

import difflib
import fnmatch
from typing import Mapping

from agents.errors import UserError
from inventory.model import Device, Inventory

KINDS = ("name", "tag", "arch", "group")


class SelectorError(UserError):
    """A selector that does not parse or matches no device."""


def parse(selector: str) -> list[list[tuple[str, str]]]:
    """`a+b,c` -> [[a, b], [c]], each atom as (kind, value).

    Raises:
        SelectorError: an empty term or an unknown kind.
    """
    terms = []
    for term in selector.split(","):
        atoms = []
        for atom in term.split("+"):
            atom = atom.strip()
            if not atom:
                raise SelectorError(f"selector {selector!r}: empty term (write a,b for a union, "
                                    f"a+b for an intersection)")
            atoms.append(_atom(atom))
        terms.append(atoms)
    return terms


def _atom(text: str) -> tuple[str, str]:
    if text == "all":
        return ("all", "")
    kind, sep, value = text.partition(":")
    if not sep:
        return ("name", text)
    if kind not in KINDS or not value:
        near = difflib.get_close_matches(kind, KINDS, 1)
        hint = f"; did you mean '{near[0]}:'?" if near else ""
        raise SelectorError(f"selector {text!r}: unknown kind '{kind}'{hint} (known: "
                            f"{', '.join(k + ':' for k in KINDS)}, all)")
    return (kind, value)


def select(inv: Inventory, selector: str, probed_arch: Mapping[str, str] | None = None) -> list[Device]:
    """The devices `selector` picks, in inventory order.

    Args:
        inv: the fleet.
        selector: the selector text.
        probed_arch: device name -> arch found by the last probe, for devices whose inventory
            entry gives no arch.

    Raises:
        SelectorError: bad syntax, or a term that matches nothing (with the nearest names).
    """
    chosen: set[str] = set()
    for atoms in parse(selector):
        found = None
        for kind, value in atoms:
            names = _match(inv, kind, value, probed_arch or {})
            if not names:
                raise SelectorError(f"selector '{_show(kind, value)}' matches no device"
                                    f"{nearest(value, _known(inv, kind), _plural(kind))}")
            found = names if found is None else found & names
        if not found:
            raise SelectorError(f"selector '{'+'.join(_show(k, v) for k, v in atoms)}' matches no "
                                f"device: no device is in all of its terms")
        chosen |= found
    return [d for name, d in inv.devices.items() if name in chosen]


def _match(inv: Inventory, kind: str, value: str, probed_arch: Mapping[str, str]) -> set[str]:
    devices = inv.devices.values()
    if kind == "all":
        return set(inv.devices)
    if kind == "name":
        return {d.name for d in devices if fnmatch.fnmatchcase(d.name, value)}
    if kind == "tag":
        return {d.name for d in devices if value in d.tags}
    if kind == "arch":
        return {d.name for d in devices if (d.arch or probed_arch.get(d.name)) == value}
    return set(inv.groups.get(value, ()))


def _known(inv: Inventory, kind: str) -> list[str]:
    devices = inv.devices.values()
    if kind == "tag":
        return sorted({t for d in devices for t in d.tags})
    if kind == "arch":
        return sorted({d.arch for d in devices if d.arch})
    if kind == "group":
        return sorted(inv.groups)
    return list(inv.devices)


def _plural(kind: str) -> str:
    return {"name": "devices", "tag": "tags", "arch": "archs", "group": "groups"}.get(kind, "devices")


def _show(kind: str, value: str) -> str:
    return "all" if kind == "all" else f"{kind}:{value}"


def nearest(value: str, known: list[str], what: str, n: int = 3) -> str:
    """`; nearest devices: a, b` (difflib), or `; known devices: ...` when none is close."""
    if not known:
        return f"; the inventory has no {what}"
    close = difflib.get_close_matches(value, known, n, cutoff=0.5)
    if close:
        return f"; nearest {what}: {', '.join(close)}"
    shown = ", ".join(known[:10]) + (f" ... ({len(known)} in all)" if len(known) > 10 else "")
    return f"; known {what}: {shown}"
