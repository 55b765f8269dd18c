"""Moved to orchestrator/plan/expand.py; kept while the old CLI imports it."""

from orchestrator.plan.expand import (Prepared, Template, artifact_key, expand, prepare,  # noqa: F401
                                      refuse_if_empty)
