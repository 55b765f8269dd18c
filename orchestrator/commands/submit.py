"""`bench submit MODEL|STUDY.yaml`: expand a study into queued jobs; with `--wait`, run them
here (an embedded dispatcher over the study's devices) and print the results."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

from sqlalchemy.engine import Engine

from agents.errors import BenchError
from inventory import Device, load_inventory
from orchestrator import devices as dev
from orchestrator.expand import Prepared, expand, prepare, refuse_if_empty
from orchestrator.scheduler import priority_rank
from orchestrator.study import StudyConfig
from results import fleet, queue
from results.db import open_db
from results.models import Study


@dataclass
class Submitted:
    """A queued study: its row, how many jobs, what was left out and why, its devices."""

    study: Study
    jobs: int
    skipped: list[str]
    devices: list[Device]
    db: Engine


def submit(config: StudyConfig, inventory: str | None, db: str | None,
           clock: Callable[[], float] = time.time,
           transport_factory: Callable = dev.transport_for) -> Submitted:
    """Check, expand and queue a study.

    Everything that needs no database (selectors, models, shapes, options) is checked first;
    then devices never probed are probed, and only jobs that some device can run are queued.

    Raises:
        UserError: bad input, or a study with no runnable job (with the reasons); nothing is
            queued then.
    """
    inv = load_inventory(inventory)
    prepared = prepare(config, inv)
    engine = open_db(db)
    devices = prepared.devices
    fleet.sync_devices(engine, [(d.name, d.transport, d.describe()) for d in devices])
    why_not = probe_missing(engine, devices, transport_factory, clock)
    engines = {r.name: dev.available_engines(r.probe) if r.probe else None
               for r in fleet.device_rows(engine, [d.name for d in devices])}
    study = _study(config, prepared)
    items, skipped = expand(prepared, study.id, engines, why_not)
    refuse_if_empty(items, skipped, prepared)
    n = queue.enqueue(engine, study, items, priority_rank(config.priority), clock(), config.max_attempts)
    return Submitted(study, n, skipped, devices, engine)


def probe_missing(engine: Engine, devices: list[Device], factory: Callable,
                  clock: Callable[[], float]) -> dict[str, str]:
    """Probe, in parallel, the devices that have no stored probe. Returns device -> why its
    probe failed."""
    have = {r.name for r in fleet.device_rows(engine, [d.name for d in devices]) if r.probe}
    todo = [d for d in devices if d.name not in have]

    def one(d: Device) -> tuple[str, str | None]:
        try:
            found, why = dev.probe(factory(d))
        except BenchError as e:
            return d.name, str(e)
        if found is not None:
            fleet.store_probe(engine, d.name, found, clock())
        return d.name, why

    with ThreadPoolExecutor(max_workers=min(16, len(todo) or 1)) as pool:
        return {name: why for name, why in pool.map(one, todo) if why}


def _study(config: StudyConfig, prepared: Prepared) -> Study:
    name = config.name or ", ".join(m.path.name for m in config.models)
    spec = {"models": [str(m.path) for m in config.models], "devices": config.devices,
            "spread": config.spread, "engines": config.engines, "precisions": config.precisions,
            "scenarios": config.scenarios, "batch_sizes": config.batch_sizes,
            "priority": config.priority, "max_attempts": config.max_attempts}
    return Study(id=uuid.uuid4().hex[:12], name=name, source=config.source, spec=spec)


def wait(submitted: Submitted, config, on_step: Callable[[dict[str, int]], None] | None = None,
         stop=None) -> dict[str, int]:
    """Work off the study here: an embedded dispatcher over its devices until every job of
    the study is finished (other queued jobs on those devices are served too, by priority).

    Returns:
        The study's jobs per state.
    """
    from orchestrator.commands.queue import _stop_on_signals
    from orchestrator.dispatcher import Dispatcher

    engine, study_id = submitted.db, submitted.study.id
    dispatcher = Dispatcher(engine, submitted.devices, config)
    step = (lambda: on_step(fleet.state_counts(engine, study_id))) if on_step else None
    dispatcher.run(until=lambda: queue.open_jobs(engine, study_id) == 0,
                   stop=stop or _stop_on_signals(), on_step=step)
    return fleet.state_counts(engine, study_id)
