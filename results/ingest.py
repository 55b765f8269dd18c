"""Store RunResults exactly once: idempotent on (job id, attempt)."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from agents.errors import InfraError
from agents.spec import JobSpec, RunResult
from results.models import Device, Job, Run, Study, utcnow

_COLUMNS = ("latency_p50_ms", "latency_p90_ms", "latency_p95_ms", "latency_p99_ms",
            "latency_p999_ms", "latency_mean_ms", "latency_std_ms", "latency_cv",
            "latency_min_ms", "latency_max_ms", "throughput_ips", "cold_start_ms", "iterations",
            "power_avg_w", "energy_per_inference_j", "accuracy_max_abs_error",
            "accuracy_cosine_min", "accuracy_top1_agreement", "compile_s")


def series_key(spec: JobSpec, shapes: dict[str, Any] | None = None) -> str:
    """The key runs are compared under over time: model, device, engine, precision, engine
    options (threads, streams ...), scenario with its load (requests in flight, target qps),
    batch and input shapes."""
    parts = {"model": spec.model.sha256, "device": spec.device, "engine": spec.variant.engine,
             "precision": spec.variant.precision, "options": spec.variant.options,
             "scenario": spec.scenario.name, "requests": spec.scenario.concurrency,
             "qps": spec.scenario.target_qps, "batch": spec.scenario.batch,
             "shapes": shapes or spec.inputs.shapes}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def add_jobs(engine: Engine, study: Study, specs: list[JobSpec]) -> None:
    """Create a study and its jobs (state `queued`) in one transaction."""
    with Session(engine) as s:
        s.add(study)
        s.flush()  # the study row must exist before its jobs reference it
        for spec in specs:
            s.add(_job_row(spec, study.id))
        s.commit()


def _job_row(spec: JobSpec, study_id: str) -> Job:
    return Job(id=spec.job_id, study_id=study_id, device=spec.device, engine=spec.variant.engine,
               precision=spec.variant.precision, scenario=spec.scenario.name,
               model_sha256=spec.model.sha256, spec=json.loads(spec.to_json()))


def ingest(engine: Engine, result: RunResult) -> tuple[Run, bool]:
    """Store one RunResult unless (job id, attempt) is already stored.

    Safe against concurrent writers: a unique-constraint race is retried, and a run
    another writer stored first is returned instead.

    Returns:
        (the stored row, whether this call created it).
    """
    for _ in range(3):
        with Session(engine) as s:
            existing = _find(s, result)
            if existing is not None:
                return existing, False
            try:
                _ensure_job(s, result)
                run = _run_row(result)
                s.add(run)
                _update_job_and_device(s, result)
                s.commit()
            except IntegrityError:  # another writer created the run, job, study or device first
                s.rollback()
                continue
            s.refresh(run)
            return run, True
    raise InfraError(f"could not store run of job {result.job_id} attempt {result.attempt}")


def _find(s: Session, result: RunResult) -> Run | None:
    return s.exec(select(Run).where(Run.job_id == result.job_id,
                                    Run.attempt == result.attempt)).first()


def _ensure_job(s: Session, result: RunResult) -> None:
    if s.get(Job, result.job_id) is not None or result.job is None:
        return
    study_id = result.job.study_id or "imported"
    if s.get(Study, study_id) is None:
        s.add(Study(id=study_id, name=study_id, source="ingest"))
        s.flush()  # parent row first: no ORM relationship tells the flush the order
    s.add(_job_row(result.job, study_id))
    s.flush()


def _run_row(result: RunResult) -> Run:
    spec = result.job
    if spec is None:
        raise ValueError(f"run of job {result.job_id} carries no JobSpec; cannot store it")
    shapes = result.environment.get("input_shapes") or spec.inputs.shapes
    stored = result.to_dict()
    blob = stored["latencies"]
    if blob:  # the samples go to their own binary column; the JSON keeps the header
        stored["latencies"] = {k: v for k, v in blob.items() if k != "data"}
    m = result.metrics
    return Run(
        job_id=result.job_id, attempt=result.attempt, status=result.status, device=spec.device,
        engine=spec.variant.engine, engine_version=result.environment.get("engine_version"),
        precision=spec.variant.precision, scenario=spec.scenario.name,
        model_name=spec.model.name, model_sha256=spec.model.sha256,
        series_key=series_key(spec, shapes), batch=spec.scenario.batch, input_shapes=shapes,
        flags=list(result.flags), error=result.error, metrics=dict(m), result=stored,
        latencies=base64.b64decode(blob["data"]) if blob else None,
        result_schema_version=result.schema_version, started_at=result.started_at,
        **{c: m.get(c) for c in _COLUMNS})


def _update_job_and_device(s: Session, result: RunResult) -> None:
    job = s.get(Job, result.job_id)
    job.state = "done" if result.status == "ok" else "failed"
    job.attempts = max(job.attempts, result.attempt)
    job.updated_at = utcnow()
    env = result.environment
    device = s.get(Device, job.device) or Device(name=job.device)
    device.arch = env.get("arch") or device.arch
    device.cpu_model = env.get("cpu_model") or device.cpu_model
    device.updated_at = utcnow()
    s.add_all([job, device])


def stored_result(run: Run) -> RunResult:
    """Rebuild the full RunResult of a stored run, raw latencies included."""
    data = dict(run.result)
    if run.latencies is not None and data.get("latencies"):
        data["latencies"] = {**data["latencies"],
                             "data": base64.b64encode(run.latencies).decode("ascii")}
    return RunResult.from_dict(data)
