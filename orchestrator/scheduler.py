"""Moved to orchestrator/execute/scheduler.py (priorities: plan/study.py); kept while the old CLI imports it."""

from orchestrator.execute.scheduler import *  # noqa: F401,F403
from orchestrator.plan.study import PRIORITIES, priority_rank  # noqa: F401
