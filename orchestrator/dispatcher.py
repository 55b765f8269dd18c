"""Moved to orchestrator/execute/dispatcher.py; kept while the old CLI imports it."""

from orchestrator.execute.dispatcher import *  # noqa: F401,F403
