"""Read runs back as pandas DataFrames (dashboards, comparisons, `bench results`)."""

from __future__ import annotations

import pandas as pd
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from agents.scenarios import label as scenario_text
from agents.spec import RunResult
from results.ingest import stored_result
from results.models import Job, Run

RUN_COLUMNS = ["id", "created_at", "job_id", "attempt", "status", "device", "model_name",
               "model_sha256", "engine", "engine_version", "precision", "scenario", "batch",
               "latency_p50_ms", "latency_p90_ms", "latency_p95_ms", "latency_p99_ms",
               "latency_p999_ms", "latency_mean_ms", "latency_std_ms", "latency_cv",
               "latency_min_ms", "latency_max_ms", "throughput_ips", "cold_start_ms",
               "iterations", "power_avg_w", "energy_per_inference_j", "accuracy_max_abs_error",
               "accuracy_cosine_min", "accuracy_top1_agreement", "compile_s", "flags", "error",
               "series_key"]


def select_runs(engine: Engine, last: int | None = None, study_id: str | None = None,
                status: str | None = None) -> list[Run]:
    """Stored run rows, oldest first.

    Args:
        engine: the database.
        last: only the newest N runs.
        study_id: only runs of this study's jobs.
        status: only runs with this status (ok, model-error, infra-error).
    """
    q = select(Run).order_by(col(Run.id).desc())
    if status:
        q = q.where(Run.status == status)
    if study_id:
        q = q.join(Job, Job.id == Run.job_id).where(Job.study_id == study_id)
    if last:
        q = q.limit(last)
    with Session(engine) as s:
        rows = s.exec(q).all()
        s.expunge_all()
    return list(reversed(rows))


def runs_frame(engine: Engine, **filters) -> pd.DataFrame:
    """Stored runs as a DataFrame, one row per run with the headline metrics, oldest first.

    Takes the filters of `select_runs`.
    """
    records = [{c: getattr(r, c) for c in RUN_COLUMNS} for r in select_runs(engine, **filters)]
    return pd.DataFrame.from_records(records, columns=RUN_COLUMNS)


def run_results(engine: Engine, **filters) -> list[RunResult]:
    """The full RunResults (raw latencies included) of stored runs, oldest first."""
    return [stored_result(r) for r in select_runs(engine, **filters)]


def scenario_label(run) -> str:
    """`offline b8 x4`, `server 200 qps x2`: from a run's columns (scenario, batch) and its
    metrics JSON (a throughput-mode latency must not read as a single-stream one)."""
    m = run.metrics or {}
    return scenario_text(run.scenario, run.batch or 1,
                         m.get("requests_in_flight") if run.scenario != "single-stream" else None,
                         m.get("target_qps"), m.get("peak_qps"), m.get("peak_steps") is not None)
