"""Moved to orchestrator/execute/worker.py; kept while the old CLI imports it."""

from orchestrator.execute.worker import *  # noqa: F401,F403
