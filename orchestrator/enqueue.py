"""The one way work enters the queue, used by `bench run`, `bench submit`, the server and
`bench nightly` alike: check a study against the inventory and its models (no database),
then sync and probe its devices, expand it into jobs, and put them in the queue."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Mapping

from sqlalchemy.engine import Engine

from inventory import Device, Inventory
from inventory.yamlsrc import Where
from results.models import Study as StudyRow
from results.queue import QueueItem


@dataclass
class Submitted:
    """A queued study: its row, how many jobs, what was left out and why, its devices, the
    database, and its job ids in plan order."""

    row: StudyRow
    jobs: int
    skipped: list[str]
    devices: list[Device]
    db: Engine
    job_ids: list[str] = field(default_factory=list)


def check(study, inv: Inventory, where: Where):
    """Check a study before anything is stored: names, values, selectors, models, shapes,
    options, data and calibration files. Returns the `plan.expand.Prepared` study.

    Raises:
        UserError: one line.
    """
    raise NotImplementedError  # WP-B step 3


def submit(prepared, db: Engine, *, clock: Callable[[], float] = time.time,
           transport_factory: Callable | None = None, study_id: str | None = None) -> Submitted:
    """Sync the study's devices, probe those never probed, expand and queue the jobs some
    device can run.

    Raises:
        UserError: no job can run (with the reasons); nothing is queued then.
    """
    raise NotImplementedError  # WP-B step 3


def put(db: Engine, row: StudyRow, items: list[QueueItem], priority: str, now: float,
        max_attempts: int | None) -> int:
    """Queue items under a study row (the only `results.queue.enqueue` call). Returns how many."""
    raise NotImplementedError  # WP-B step 3


def default_engines(study, available: Mapping[str, frozenset | None]) -> list[str]:
    """Every engine a selected device's probe found that runs every model's format."""
    raise NotImplementedError  # WP-B step 3
