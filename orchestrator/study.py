"""Moved to orchestrator/plan/study.py and plan/studyfile.py; kept while the old CLI imports it."""

from orchestrator.plan.study import ModelEntry, Study, Study as StudyConfig  # noqa: F401
from orchestrator.plan.studyfile import load_study, study_from  # noqa: F401
