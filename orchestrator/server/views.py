"""Read the database into the API's response bodies (plain functions, run on worker threads)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from orchestrator.execute import devices as dev
from orchestrator.execute.devices import device_state
from orchestrator.execute.policy import FINAL_STATES
from orchestrator.plan.study import PRIORITIES
from orchestrator.server.schemas import DeviceOut, JobDetail, JobOut, RunOut, RunsPage, StudyOut
from results import fleet
from results.ingest import stored_result
from results.models import Job, Run, Study
from results.queries import scenario_label

JOB, RUN, STUDY = Job.__table__, Run.__table__, Study.__table__
_JOB_COLS = [JOB.c[n] for n in JobOut.model_fields]
_RUN_FIELDS = frozenset(RunOut.model_fields) - {"result"}
_RUN_HEAD = [c for c in RUN.c if c.name in _RUN_FIELDS] + [RUN.c.metrics]
MAX_PAGE = 1000


class NotFound(LookupError):
    """No such study, job or run (404)."""


def study(engine: Engine, study_id: str, with_jobs: bool = True) -> StudyOut:
    """A study with its jobs per state (and each job, unless `with_jobs` is False).

    Raises:
        NotFound: no such study.
    """
    with engine.connect() as conn:
        row = conn.execute(select(STUDY).where(STUDY.c.id == study_id)).first()
        if row is None:
            raise NotFound(f"no study '{study_id}'")
        jobs = list(conn.execute(select(*_JOB_COLS).where(JOB.c.study_id == study_id)
                                 .order_by(JOB.c.position, JOB.c.id))) if with_jobs else None
    counts = fleet.state_counts(engine, study_id)
    return _study_out(row, counts, [JobOut(**j._mapping) for j in jobs] if jobs is not None else None)


def _study_out(row, counts: dict[str, int], jobs: list[JobOut] | None) -> StudyOut:
    return StudyOut(id=row.id, name=row.name, source=row.source,
                    priority=PRIORITIES[row.priority] if row.priority is not None else None,
                    created_at=row.created_at, total=sum(counts.values()),
                    finished=sum(counts.get(s, 0) for s in FINAL_STATES), counts=counts, jobs=jobs,
                    dashboard=f"/v1/studies/{row.id}/dashboard")


def recent_studies(engine: Engine, last: int) -> list[StudyOut]:
    """The newest studies that went through the queue, newest first, without their jobs."""
    return [_study_out(s, fleet.state_counts(engine, s.id), None)
            for s in fleet.recent_studies(engine, last)]


def job(engine: Engine, job_id: str) -> JobDetail:
    """A job, its JobSpec and the runs of its attempts.

    Raises:
        NotFound: no such job.
    """
    with engine.connect() as conn:
        row = conn.execute(select(*_JOB_COLS, JOB.c.spec).where(JOB.c.id == job_id)).first()
        if row is None:
            raise NotFound(f"no job '{job_id}'")
        runs = conn.execute(select(RUN.c.id, RUN.c.attempt, RUN.c.status, RUN.c.device, RUN.c.error)
                            .where(RUN.c.job_id == job_id).order_by(RUN.c.attempt))
        return JobDetail(**row._mapping, runs=[dict(r._mapping) for r in runs])


def runs(engine: Engine, filters: dict[str, Any], after_id: int | None, limit: int,
         full: bool) -> RunsPage:
    """A page of runs, oldest first: those after `after_id`, else the newest `limit`."""
    cols = list(RUN.c) if full else _RUN_HEAD
    q = select(*cols, JOB.c.study_id).join(JOB, JOB.c.id == RUN.c.job_id, isouter=True)
    for name, value in filters.items():
        if value is not None:
            q = q.where((JOB.c.study_id if name == "study" else RUN.c[name]) == value)
    if after_id is not None:
        q = q.where(RUN.c.id > after_id).order_by(RUN.c.id).limit(limit)
    else:
        q = q.order_by(RUN.c.id.desc()).limit(limit)
    with engine.connect() as conn:
        rows = list(conn.execute(q))
    if after_id is None:
        rows.reverse()
    out = [_run_out(r, full) for r in rows]
    more = after_id is not None and len(rows) == limit
    return RunsPage(runs=out, next_after_id=out[-1].id if out else after_id if more else None)


def _run_out(row, full: bool) -> RunOut:
    m = dict(row._mapping)
    metrics = m.pop("metrics", None) or {}
    result = None
    if full:
        result = stored_result(SimpleNamespace(result=m["result"], latencies=m["latencies"])).to_dict()
    fields = {k: v for k, v in m.items() if k in _RUN_FIELDS}
    fields.update(flags=fields.get("flags") or [], batch=fields.get("batch") or 1,
                  scenario_label=scenario_label(_Row(m, metrics)), result=result)
    # Rows of our own table: their types are the columns', so construction skips validation
    # (a page of 1,000 runs would otherwise spend most of its time validating).
    return RunOut.model_construct(**fields)


class _Row:
    """The attributes `scenario_label` reads, over a row mapping."""

    def __init__(self, m: dict, metrics: dict):
        self.scenario, self.batch, self.metrics = m["scenario"], m.get("batch") or 1, metrics


def devices(engine: Engine, inventory) -> list[DeviceOut]:
    """The devices of the server's inventory with their state, health and engines."""
    rows = {r.name: r for r in fleet.device_rows(engine, list(inventory.devices))}
    out = []
    for d in inventory.devices.values():
        r = rows.get(d.name)
        out.append(DeviceOut(name=d.name, transport=d.transport, state=device_state(r),
                             health=r.health if r else "ok",
                             engines=sorted(dev.available_engines(r.probe if r else None)),
                             tags=list(d.tags), arch=(r.arch if r else None) or d.arch,
                             cpu_model=r.cpu_model if r else None,
                             lease_job_id=r.lease_job_id if r else None,
                             probed_s=r.probed_s if r else None))
    return out


def kind_of(engine: Engine, target: str) -> str:
    """"study" or "job".

    Raises:
        NotFound: neither a study nor a job has this id.
    """
    with engine.connect() as conn:
        if conn.execute(select(STUDY.c.id).where(STUDY.c.id == target)).first():
            return "study"
        if conn.execute(select(JOB.c.id).where(JOB.c.id == target)).first():
            return "job"
    raise NotFound(f"no study or job '{target}'")
