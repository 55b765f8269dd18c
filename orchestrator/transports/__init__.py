"""Transport registry: built-in local, ssh and ray; plug-ins via the `benchlab.transports` group.

Built-ins are imported only when asked for, so `bench run` never imports paramiko or Ray.
"""

from __future__ import annotations

from typing import Any, Callable

from agents.registry import Registry
from orchestrator.transports.base import Transport

TRANSPORTS: Registry[Callable[..., Transport]] = Registry("transport", "benchlab.transports", {
    "local": "orchestrator.transports.local:LocalTransport",
    "ssh": "orchestrator.transports.ssh:SshTransport",
    "ray": "orchestrator.transports.ray:RayTransport",
})


def known_transports() -> list[str]:
    """Every transport name, sorted."""
    return TRANSPORTS.names()


def get_transport(name: str, **config: Any) -> Transport:
    """Build the transport called `name` with its config.

    Raises:
        UserError: no such transport, with the known names.
    """
    return TRANSPORTS.get(name)(**config)
