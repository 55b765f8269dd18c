"""The one way work enters the queue, used by `bench run`, `bench submit`, the server and
`bench nightly` alike: `check` a study against the inventory and its models (no database),
then `submit` it: sync and probe its devices, expand it into the jobs some device can run, and
`put` them in the queue.
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Mapping

from sqlalchemy.engine import Engine

from agents.engines import get_engine
from agents.errors import BenchError, UserError
from inventory import Device, Inventory
from inventory.yamlsrc import Where
from orchestrator.execute import devices as dev
from orchestrator.plan.expand import Prepared, expand, prepare, refuse_if_empty
from orchestrator.plan.study import Study, priority_rank
from results import fleet, queue
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


def check(study: Study, inv: Inventory, where: Where) -> Prepared:
    """Check a study before anything is stored: its values, selectors, models, shapes, options,
    data and calibration files.

    Raises:
        UserError: one line (InventoryError naming the field for a bad value).
    """
    study.check(where)
    return prepare(study, inv)


def submit(prepared: Prepared, db: Engine, *, clock: Callable[[], float] = time.time,
           transport_factory: Callable = dev.transport_for, study_id: str | None = None) -> Submitted:
    """Sync the study's devices, probe those never probed (in parallel), expand the study and
    queue the jobs some device can run.

    Args:
        study_id: the study row's id (default: a fresh one; the server derives it from an
            idempotency key).
    Raises:
        UserError: no job can run (with the reasons); nothing is queued then.
        IntegrityError: a study with this id exists already.
    """
    study, devices = prepared.study, prepared.devices
    available, why_not = survey(db, devices, transport_factory, clock)
    row = study_row(study, study_id)
    items, skipped = expand(prepared, row.id, available, why_not)
    refuse_if_empty(items, skipped, prepared)
    n = put(db, row, items, study.priority, clock(), study.max_attempts)
    return Submitted(row, n, skipped, devices, db, [i.spec["job_id"] for i in items])


def survey(db: Engine, devices: list[Device], transport_factory: Callable = dev.transport_for,
           clock: Callable[[], float] = time.time) -> tuple[dict[str, frozenset[str] | None], dict[str, str]]:
    """Sync the devices' rows and probe those never probed.

    Returns:
        device -> engines its probe found (None: no usable probe), and device -> why its probe
        failed.
    """
    fleet.sync_devices(db, [(d.name, d.transport, d.describe()) for d in devices])
    why_not = probe_missing(db, devices, transport_factory, clock)
    available = {r.name: dev.available_engines(r.probe) if r.probe else None
                 for r in fleet.device_rows(db, [d.name for d in devices])}
    return available, why_not


def probe_missing(db: Engine, devices: list[Device], factory: Callable,
                  clock: Callable[[], float]) -> dict[str, str]:
    """Probe, in parallel, the devices that have no stored probe. Returns device -> why its
    probe failed."""
    have = {r.name for r in fleet.device_rows(db, [d.name for d in devices]) if r.probe}
    todo = [d for d in devices if d.name not in have]

    def one(d: Device) -> tuple[str, str | None]:
        try:
            found, why = dev.probe(factory(d))
        except BenchError as e:
            return d.name, str(e)
        if found is not None:
            fleet.store_probe(db, d.name, found, clock())
        return d.name, why

    with ThreadPoolExecutor(max_workers=min(16, len(todo) or 1)) as pool:
        return {name: why for name, why in pool.map(one, todo) if why}


def study_row(study: Study, study_id: str | None = None) -> StudyRow:
    """The study's database row; its spec carries what workers read back (max_accuracy_drop)."""
    name = study.name or ", ".join(m.path.name for m in study.models)
    spec = {"models": [str(m.path) for m in study.models], "devices": study.devices,
            "spread": study.spread, "engines": study.engines, "precisions": study.precisions,
            "scenarios": study.scenarios, "batch_sizes": study.batch_sizes,
            "priority": study.priority, "max_attempts": study.max_attempts,
            "max_accuracy_drop": study.max_accuracy_drop}
    return StudyRow(id=study_id or uuid.uuid4().hex[:12], name=name, source=study.source, spec=spec)


def put(db: Engine, row: StudyRow, items: list[QueueItem], priority: str, now: float,
        max_attempts: int | None) -> int:
    """Queue items under a new study row, in one transaction (the only `results.queue.enqueue`
    call). Returns how many were queued.

    Raises:
        UserError: an unknown priority class.
    """
    return queue.enqueue(db, row, items, priority_rank(priority), now, max_attempts)


def default_engines(study: Study, available: Mapping[str, frozenset[str] | None]) -> list[str]:
    """Every engine a selected device's probe found that runs every model's format (a study
    sent without engines).

    Raises:
        UserError: there is none.
    """
    found = sorted(set().union(*[e for e in available.values() if e]) if available else set())
    suffixes = {m.path.suffix.lower() for m in study.models}
    engines = [n for n in found if all(_runs(n, s) for s in suffixes)]
    if not engines:
        raise UserError("no engine given and none of the selected devices has one that runs "
                        f"{', '.join(sorted(suffixes))} models (devices: {', '.join(available) or 'none'})")
    return engines


def _runs(engine: str, suffix: str) -> bool:
    try:
        return get_engine(engine).supports(suffix) is None
    except UserError:  # an engine a board has that this machine does not know
        return False
