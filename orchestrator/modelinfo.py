"""Moved to orchestrator/plan/modelinfo.py; kept while tests/zoo imports it."""

from orchestrator.plan.modelinfo import SUPPORTED_SUFFIXES, read_inputs  # noqa: F401
