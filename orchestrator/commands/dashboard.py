"""Moved to orchestrator/dashboard.py; kept while the old CLI imports it."""

from orchestrator.dashboard import DashboardRequest, write  # noqa: F401
