"""Transport registry: built-in local, ssh and ray; plug-ins via the `benchlab.transports` group.

Built-ins are imported only when asked for, so `bench run` never imports paramiko or Ray.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any

from agents.errors import UserError
from orchestrator.transports.base import Transport

_BUILTIN = {
    "local": "orchestrator.transports.local:LocalTransport",
    "ssh": "orchestrator.transports.ssh:SshTransport",
    "ray": "orchestrator.transports.ray:RayTransport",
}


def known_transports() -> list[str]:
    """Every transport name, sorted."""
    return sorted({*_BUILTIN, *(ep.name for ep in entry_points(group="benchlab.transports"))})


def get_transport(name: str, **config: Any) -> Transport:
    """Build the transport called `name` with its config.

    Raises:
        UserError: no such transport, with the known names.
    """
    if name in _BUILTIN:
        module, cls = _BUILTIN[name].split(":")
        return getattr(importlib.import_module(module), cls)(**config)
    for ep in entry_points(group="benchlab.transports"):
        if ep.name == name:
            return ep.load()(**config)
    raise UserError(f"unknown transport '{name}'; known: {', '.join(known_transports())}")
