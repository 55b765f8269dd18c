"""Moved to orchestrator/plan/scenarios.py (parsers: plan/knobs.py); kept while the old CLI imports it."""

from orchestrator.plan.knobs import parse_batches, parse_until_stable  # noqa: F401
from orchestrator.plan.scenarios import LoadFlags  # noqa: F401
