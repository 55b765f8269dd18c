"""A study's jobs: preflight (everything checked before anything is stored) and one JobSpec per
(engine, precision, batch, scenario) of a model, with no side effects."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from agents.spec import JobSpec

if TYPE_CHECKING:
    from orchestrator.plan.study import ModelEntry, Study


def available_engines(model: Path | None = None) -> list[str]:
    """The engines whose SDK imports on this machine and that can run this model's format
    here without an extra (the default for `bench run`)."""
    raise NotImplementedError  # WP-B step 2


def check_names(study: "Study") -> None:
    """Check engine, precision and option names, threads, accuracy limit and power flags, with
    the flags' wording ("unknown precision 'fp64'").

    Raises:
        UserError: one line.
    """
    raise NotImplementedError  # WP-B step 2


def plan(study: "Study", model: "ModelEntry", study_id: str = "") -> list[JobSpec]:
    """Preflight one model of a study and build its JobSpecs, in (engine, precision, batch,
    scenario) order.

    Raises:
        UserError: any bad input, as one line.
    """
    raise NotImplementedError  # WP-B step 2
