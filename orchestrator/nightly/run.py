"""`bench nightly SUITE`: submit the suite's study through the queue, wait for it with
progress, judge every series against its baseline, re-run flagged jobs through the queue to
confirm them, store the verdicts, and write the markdown summary, the JUnit XML file and the
trend page.

Exit codes: 0 clean; 1 a confirmed regression (or a job that failed with a model-error);
2 jobs left unfinished by infrastructure failures (and no regression).
"""

from __future__ import annotations

import signal
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from sqlalchemy import select
from sqlalchemy.engine import Engine

from agents.spec import JobSpec, RunResult
from inventory import load_inventory
from inventory.yamlsrc import Where
from orchestrator import enqueue, execute
from orchestrator.execute.dispatcher import DispatchConfig
from orchestrator.nightly.judge import (SeriesNight, decide, fit_for_baseline, judge,
                                        member_flags, settle)
from orchestrator.nightly.suite import Suite, load_suite
from orchestrator.plan.expand import artifact_key
from results import fleet, queue, verdicts
from results.baseline import (device_state, reference_sample, series_title, suite_series,
                              toolchain)
from results.compare import run_values
from results.db import open_db
from results.ingest import stored_result
from results.models import Job, Run
from results.models import Study as StudyRow
from results.verdicts import Nightly

Progress = Callable[[str, int], Callable[[dict[str, int]], None]]


@dataclass
class NightlyResult:
    """What a nightly found, where it wrote it, and its exit code."""

    nightly_id: str
    suite: Suite
    study_id: str
    nights: list[SeriesNight]
    exit_code: int = 0
    confirm_study_id: str | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Series per state."""
        out: dict[str, int] = {}
        for n in self.nights:
            out[n.state] = out.get(n.state, 0) + 1
        return out


def run_nightly(path: Path, inventory: str | None = None, db: str | None = None,
                out_dir: Path | None = None, progress: Progress | None = None,
                dispatch: DispatchConfig | None = None,
                clock: Callable[[], float] = time.time) -> NightlyResult:
    """Run a suite once, end to end (see the module docstring).

    Raises:
        UserError: a bad suite file, or a study nothing can run (nothing is queued then).
    """
    suite = load_suite(Path(path))
    prepared = enqueue.check(suite.study, load_inventory(inventory), Where(str(path)))
    done = enqueue.submit(prepared, open_db(db), clock=clock)
    engine = verdicts.ensure(done.db)
    nightly = Nightly(id=uuid.uuid4().hex[:12], suite=suite.name, study_id=done.row.id, started_s=clock())
    verdicts.add(engine, [nightly])
    dispatch = dispatch or DispatchConfig()
    _wait(done, suite.deadline_s, dispatch, progress, "study", clock)
    nights = collect(engine, done.row.id, suite)
    found = verdicts.baselines(engine, suite.name, [n.series for n in nights], suite.runs)
    for night in nights:
        night.baseline = found.get(night.series, [])
        judge(night)
    result = NightlyResult(nightly.id, suite, done.row.id, nights)
    flagged = [n for n in nights if n.state == "candidate"]
    if flagged and suite.confirm:
        result.confirm_study_id = _confirm(engine, suite, nightly.id, flagged, done, dispatch,
                                           progress, clock)
    for night in nights:
        settle(night, suite.confirm)
    store(engine, suite, nightly.id, nights, clock())
    result.exit_code = exit_code(nights)
    from orchestrator.nightly.report import write_outputs
    write_outputs(result, engine, Path(out_dir) if out_dir else Path("build/nightly") / suite.name)
    verdicts.finish_nightly(engine, nightly.id, finished_s=clock(), exit_code=result.exit_code,
                            counts=result.counts(), outputs=result.outputs,
                            confirm_study_id=result.confirm_study_id)
    return result


def exit_code(nights: list[SeriesNight]) -> int:
    """1 if any series regressed (or broke), else 2 if any was left unfinished by
    infrastructure failures (its job, or the confirmation re-run of a flagged one), else 0."""
    if any(n.state in ("regression", "broken") for n in nights):
        return 1
    if any(n.state == "infra" or n.confirm_error for n in nights):
        return 2
    return 0


def _wait(done: enqueue.Submitted, deadline_s: float, dispatch: DispatchConfig,
          progress: Progress | None, label: str, clock: Callable[[], float]) -> None:
    """Work the study off here until it is finished, the deadline passes or SIGINT/SIGTERM
    arrives; then cancel what is left (it counts as unfinished)."""
    stop = threading.Event()
    timer = threading.Timer(deadline_s, stop.set)
    timer.daemon = True
    timer.start()
    try:
        with _signals_set(stop):
            execute.run_study(done.db, done.devices, done.row.id, dispatch,
                              on_step=progress(label, done.jobs) if progress else None, stop=stop)
    finally:
        timer.cancel()
    if queue.open_jobs(done.db, done.row.id):
        fleet.cancel(done.db, done.row.id, clock())


@contextmanager
def _signals_set(stop: threading.Event):
    """SIGINT and SIGTERM set `stop` while the block runs (main thread only); the previous
    handlers come back afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


def collect(engine: Engine, study_id: str, suite: Suite) -> list[SeriesNight]:
    """Each job of a study with its last attempt's run, as the series it belongs to."""
    J = Job.__table__
    with engine.connect() as conn:
        jobs = list(conn.execute(select(J.c.id, J.c.state, J.c.reason)
                                 .where(J.c.study_id == study_id).order_by(J.c.position, J.c.id)))
    runs = _last_runs(engine, [j.id for j in jobs])
    nights = []
    for job in jobs:
        row = runs.get(job.id)
        result = stored_result(row) if row is not None else None
        spec = result.job if result is not None and result.job else _queued_spec(engine, job.id)
        rule, metrics = suite.rule_for(spec)
        night = SeriesNight(series=suite_series(spec), title=series_title(spec), spec=spec,
                            job_id=job.id, rule=rule, metrics=metrics)
        night.status, night.error = _status(job, result)
        if result is not None:
            night.run_id, night.result = row.id, result
        nights.append(night)
    return nights


def _last_runs(engine: Engine, job_ids: list[str]) -> dict[str, Any]:
    """job id -> its newest attempt's run: id, result JSON and raw latencies (Core rows, not
    ORM objects: a nightly reads thousands)."""
    T = Run.__table__
    out: dict[str, Any] = {}
    with engine.connect() as conn:
        for start in range(0, len(job_ids), 900):
            q = (select(T.c.job_id, T.c.id, T.c.result, T.c.latencies)
                 .where(T.c.job_id.in_(job_ids[start:start + 900])).order_by(T.c.attempt))
            for row in conn.execute(q):
                out[row.job_id] = row
    return out


def _queued_spec(engine: Engine, job_id: str) -> JobSpec:
    """The JobSpec of a job that stored no run (cancelled before it ran, say)."""
    J = Job.__table__
    with engine.connect() as conn:
        return JobSpec.from_dict(conn.execute(select(J.c.spec).where(J.c.id == job_id)).scalar_one())


def _status(job, result: RunResult | None) -> tuple[str, str | None]:
    if job.state not in ("done", "failed") or result is None:
        return "unfinished", job.reason or f"job {job.state}"
    if result.skipped:
        return "skipped", result.error
    return result.status, result.error


def member_row(night: SeriesNight, result: RunResult, run_id: int, suite: str, nightly_id: str,
               role: str, now: float) -> dict[str, Any]:
    """A run as a series_run row (columns): fingerprints, per-run values, reference sample;
    not yet a baseline member (`good`, `new_baseline` False)."""
    samples = result.latencies_ns()
    spec = result.job or night.spec
    return dict(suite=suite, series=night.series, title=night.title, nightly_id=nightly_id,
                run_id=run_id, role=role, created_s=now, model_sha256=spec.model.sha256,
                good=False, new_baseline=False, toolchain=toolchain(result),
                device_state=device_state(result), **run_values(result.metrics),
                sample=reference_sample(samples / 1e6) if samples.size else None)


def _confirm(engine: Engine, suite: Suite, nightly_id: str, flagged: list[SeriesNight],
             done: enqueue.Submitted, dispatch: DispatchConfig, progress: Progress | None,
             clock: Callable[[], float]) -> str:
    """Re-run each flagged job through the queue and judge the re-run against the same
    baseline. Returns the confirmation study's id."""
    study = StudyRow(id=uuid.uuid4().hex[:12], name=f"{suite.name} confirm", source="bench nightly",
                     spec={"nightly": nightly_id, "confirms": [n.job_id for n in flagged]})
    items, by_job = [], {}
    for night in flagged:
        spec = _queue_spec(engine, night)
        spec.update(job_id=uuid.uuid4().hex[:16], study_id=study.id)
        items.append(queue.QueueItem(spec=spec, pool=[spec["device"]], artifact=artifact_key(spec),
                                     device=spec["device"]))
        by_job[spec["job_id"]] = night
    enqueue.put(engine, study, items, suite.study.priority, clock(), suite.study.max_attempts)
    again = enqueue.Submitted(study, len(items), [], done.devices, engine, list(by_job))
    _wait(again, suite.deadline_s, dispatch, progress, "confirmation re-runs", clock)
    for job in collect(engine, study.id, suite):
        night = by_job[job.job_id]
        if job.status != "ok" or job.result is None:
            night.confirm_error = f"{job.status}: {job.error}"
            continue
        night.confirm_run_id, night.confirm_result = job.run_id, job.result
        night.confirmed = decide(night.rule, night.metrics, job.result, night.baseline, only=night.candidates)
    return study.id


def _queue_spec(engine: Engine, night: SeriesNight) -> dict:
    """The job's spec as the queue holds it (before a worker filled in device settings),
    pinned to the device that ran it."""
    from sqlmodel import Session
    with Session(engine) as s:
        spec = dict(s.get(Job, night.job_id).spec)
    spec["device"] = night.spec.device
    return spec


def store(engine: Engine, suite: Suite, nightly_id: str, nights: list[SeriesNight], now: float) -> None:
    """File tonight's runs and their re-runs (series_run, with their final baseline flags) and
    the verdicts, in one transaction."""
    members, rows = [], []
    for night in nights:
        tonight, rerun = member_flags(night, suite.after_regression)
        if night.result is not None and night.run_id is not None:
            members.append({**member_row(night, night.result, night.run_id, suite.name, nightly_id,
                                         "night", now), **tonight})
        if night.confirm_result is not None:
            again = {**rerun, "good": rerun["good"] and fit_for_baseline(night.confirm_result.flags)}
            members.append({**member_row(night, night.confirm_result, night.confirm_run_id, suite.name,
                                         nightly_id, "confirm", now), **again})
        rows += verdict_rows(suite.name, nightly_id, night, now)
    verdicts.insert_rows(engine, members, rows)


def verdict_rows(suite: str, nightly_id: str, night: SeriesNight, now: float) -> list[dict[str, Any]]:
    """One verdict row (columns) per judged metric; one `run` row when nothing was judged."""
    from orchestrator.nightly.report import describe
    common = dict(nightly_id=nightly_id, suite=suite, series=night.series, title=night.title,
                  run_id=night.run_id, confirm_run_id=night.confirm_run_id,
                  baseline_runs=len(night.baseline), change=night.change, created_s=now)
    empty = dict.fromkeys(("baseline", "value", "ratio", "low", "high", "p_value", "threshold",
                           "confirm_ratio", "confirm_p_value"))
    if not night.verdicts:
        return [{**empty, **common, "metric": "run", "verdict": night.state, "message": describe(night)}]
    rows = []
    for name, verdict in night.verdicts.items():
        d, c = night.decisions[name], night.confirmed.get(name)
        rows.append({**common, "metric": name, "verdict": verdict, "baseline": d.baseline,
                     "value": d.value, "ratio": d.ratio, "low": d.low, "high": d.high,
                     "p_value": d.p_value, "threshold": d.threshold,
                     "confirm_ratio": c.ratio if c else None,
                     "confirm_p_value": c.p_value if c else None, "message": describe(night, name)})
    return rows
