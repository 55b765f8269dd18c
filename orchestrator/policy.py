"""Moved to orchestrator/execute/policy.py; kept while the old CLI imports it."""

from orchestrator.execute.policy import *  # noqa: F401,F403
