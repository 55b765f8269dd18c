"""`bench results`: read stored runs back as a table, CSV or RunResult JSON."""

from __future__ import annotations

import json

from rich.console import Console
from rich.table import Table
from agents.errors import UserError
from results.db import open_db
from results.queries import run_results, runs_frame

FORMATS = ("table", "csv", "json")
_TABLE = [("id", "id"), ("created_at", "when (UTC)"), ("device", "device"), ("model_name", "model"),
          ("engine", "engine"), ("precision", "precision"), ("status", "status"),
          ("latency_p50_ms", "p50 ms"), ("latency_p99_ms", "p99 ms"),
          ("throughput_ips", "throughput /s"), ("cold_start_ms", "cold start ms"),
          ("power_avg_w", "power W"), ("energy_per_inference_j", "J/inference"),
          ("accuracy_cosine_min", "cosine"), ("accuracy_top1_agreement", "top-1"), ("flags", "flags")]


def show(console: Console, db: str | None, last: int | None, fmt: str, study: str | None) -> None:
    """Print stored runs in `fmt`.

    Raises:
        UserError: an unknown format or a negative count.
    """
    if fmt not in FORMATS:
        raise UserError(f"unknown format '{fmt}'; known: {', '.join(FORMATS)}")
    if last is not None and last < 0:
        raise UserError(f"--last must be >= 0, got {last}")
    engine = open_db(db)
    if fmt == "json":
        print(json.dumps([r.to_dict() for r in run_results(engine, last=last, study_id=study)], indent=1))
        return
    frame = runs_frame(engine, last=last, study_id=study)
    if fmt == "csv":
        print(frame.to_csv(index=False), end="")
        return
    table = Table(title=f"{len(frame)} run(s)")
    for _, header in _TABLE:
        table.add_column(header)
    for row in frame.itertuples(index=False):
        table.add_row(*[_cell(getattr(row, key)) for key, _ in _TABLE])
    console.print(table)


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
