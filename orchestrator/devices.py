"""Moved to orchestrator/execute/devices.py; kept while the old CLI imports it."""

from orchestrator.execute.devices import *  # noqa: F401,F403
from orchestrator.execute.devices import probe  # noqa: F401
