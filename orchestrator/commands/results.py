"""`bench results`: read stored runs back as a table, CSV or RunResult JSON."""

from __future__ import annotations

import json

from rich.console import Console
from rich.table import Table
from agents.errors import UserError
from results.db import open_db
from agents.scenarios import label
from results.queries import run_results, runs_frame, select_runs

FORMATS = ("table", "csv", "json")
_TABLE = [("id", "id"), ("created_at", "when (UTC)"), ("device", "device"), ("model_name", "model"),
          ("engine", "engine"), ("precision", "precision"), ("scenario", "scenario"), ("status", "status"),
          ("latency_p50_ms", "p50 ms"), ("latency_p99_ms", "p99 ms"),
          ("throughput_ips", "throughput /s"), ("cold_start_ms", "cold start ms"),
          ("power_avg_w", "power W"), ("energy_per_inference_j", "J/inference"),
          ("accuracy_cosine_min", "cosine"), ("accuracy_top1_agreement", "top-1"), ("flags", "flags")]


def check_request(fmt: str, last: int | None) -> None:
    """Refuse an unknown format or a negative count (local and --server alike).

    Raises:
        UserError: either, in one line.
    """
    if fmt not in FORMATS:
        raise UserError(f"unknown format '{fmt}'; known: {', '.join(FORMATS)}")
    if last is not None and last < 0:
        raise UserError(f"--last must be >= 0, got {last}")


def show(console: Console, db: str | None, last: int | None, fmt: str, study: str | None) -> None:
    """Print stored runs in `fmt`.

    Raises:
        UserError: an unknown format or a negative count.
    """
    check_request(fmt, last)
    engine = open_db(db)
    if fmt == "json":
        print(json.dumps([r.to_dict() for r in run_results(engine, last=last, study_id=study)], indent=1))
        return
    if fmt == "csv":
        print(runs_frame(engine, last=last, study_id=study).to_csv(index=False), end="")
        return
    runs = select_runs(engine, last=last, study_id=study)
    table = Table(title=f"{len(runs)} run(s)")
    for _, header in _TABLE:
        table.add_column(header)
    for run in runs:
        table.add_row(*[scenario_label(run) if key == "scenario" else _cell(getattr(run, key))
                        for key, _ in _TABLE])
    console.print(table)


def scenario_label(run) -> str:
    """`offline b8 x4`, `server 200 qps x2`: from the run's columns and its metrics JSON (a
    throughput-mode latency must not read as a single-stream one)."""
    m = run.metrics or {}
    return label(run.scenario, run.batch or 1, m.get("requests_in_flight") if run.scenario != "single-stream" else None,
                 m.get("target_qps"), m.get("peak_qps"), m.get("peak_steps") is not None)


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, list):
        return ",".join(value)
    if hasattr(value, "strftime"):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)
