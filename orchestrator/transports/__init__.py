"""Transport registry: built-in `local`; ssh and ray join here; plug-ins via `benchlab.transports`."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

from agents.errors import UserError
from orchestrator.transports.base import Transport


def known_transports() -> list[str]:
    """Every transport name, sorted."""
    return sorted({"local", *(ep.name for ep in entry_points(group="benchlab.transports"))})


def get_transport(name: str, **config: Any) -> Transport:
    """Build the transport called `name` with its config.

    Raises:
        UserError: no such transport, with the known names.
    """
    if name == "local":
        from orchestrator.transports.local import LocalTransport
        return LocalTransport(**config)
    for ep in entry_points(group="benchlab.transports"):
        if ep.name == name:
            return ep.load()(**config)
    raise UserError(f"unknown transport '{name}'; known: {', '.join(known_transports())}")
