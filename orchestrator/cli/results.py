"""`bench results`, `bench compare`, `bench dashboard`: reading stored runs back as a table,
CSV or RunResult JSON, comparing them, drawing them."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table

from agents.errors import UserError
from orchestrator.cli import columns
from orchestrator.cli.common import DB_HELP, SERVER_HELP, on_server, stdout_console

FORMATS = ("table", "csv", "json")


def results(
    last: Optional[int] = typer.Option(20, "--last", "-n", help="the newest N runs (0: all)"),
    fmt: str = typer.Option("table", "--format", "-f", help="table, csv or json"),
    study: Optional[str] = typer.Option(None, "--study", help="only runs of this study"),
    cols: Optional[str] = typer.Option(None, "--columns", help="exactly these table columns, in this order: " + ", ".join(columns.COLUMNS)),
    wide: bool = typer.Option(False, "--wide", help="every table column (the default fits the terminal)"),
    db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
    server: Optional[str] = typer.Option(None, "--server", help=SERVER_HELP),
) -> None:
    """Show stored runs."""
    check_request(fmt, last)
    keys = columns.choose(cols, wide)
    if on_server(server, db, lambda client, remote: remote.results(client, stdout_console(), fmt,
                                                                   last or None, study, keys)):
        return
    show(stdout_console(), db, last or None, fmt, study, keys)


def check_request(fmt: str, last: int | None) -> None:
    """Refuse an unknown format or a negative count (local and --server alike).

    Raises:
        UserError: either, in one line.
    """
    if fmt not in FORMATS:
        raise UserError(f"unknown format '{fmt}'; known: {', '.join(FORMATS)}")
    if last is not None and last < 0:
        raise UserError(f"--last must be >= 0, got {last}")


def show(console, db: str | None, last: int | None, fmt: str, study: str | None,
         keys: list[str] | None) -> None:
    """Print stored runs of the local database in `fmt` (a table on `console`; CSV and JSON on
    stdout as they are, for machines)."""
    from results.db import open_db
    from results.queries import RUN_COLUMNS, run_results, runs_frame, scenario_label, select_runs

    engine = open_db(db)
    if fmt == "json":
        print(json.dumps([r.to_dict() for r in run_results(engine, last=last, study_id=study)], indent=1))
    elif fmt == "csv":
        print(runs_frame(engine, last=last, study_id=study).to_csv(index=False), end="")
    else:
        records = [{**{c: getattr(run, c) for c in RUN_COLUMNS}, "scenario_label": scenario_label(run)}
                   for run in select_runs(engine, last=last, study_id=study)]
        columns.print_runs(console, records, keys)


def compare(
    a: str = typer.Argument(..., help="the baseline: a run id, job id or study id"),
    b: Optional[str] = typer.Argument(None, help="compared with A: a run id, job id or study id (omit: study A against its baselines)"),
    threshold: Optional[str] = typer.Option(None, "--threshold", help="latency threshold, e.g. 5% (default 5%)"),
    alpha: float = typer.Option(0.001, "--alpha", help="level of the second gate: a sign test of the run's block medians (the run-level interval is at 99 %)"),
    runs: int = typer.Option(10, "--runs", help="baseline runs per series (study against its baselines)"),
    fmt: str = typer.Option("table", "--format", "-f", help="table, csv or json on stdout"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="also write the comparison to .csv, .parquet or .json"),
    db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Compare two runs, two studies, or a study with its baselines: ratios, intervals, verdicts."""
    from results.compare import Rule
    from results.comparisons import compare as compare_runs
    from results.comparisons import export
    from results.db import open_db

    if fmt not in FORMATS:
        raise UserError(f"unknown format '{fmt}'; known: {', '.join(FORMATS)}")
    if not 0 < alpha < 1:
        raise UserError(f"--alpha must be in (0, 1), got {alpha:g}")
    if runs < 1:
        raise UserError(f"--runs must be >= 1, got {runs}")
    rule = Rule(alpha=alpha, min_runs=1)
    if threshold is not None:
        rule = rule.with_thresholds({"latency": parse_threshold(threshold)})
    frame = compare_runs(open_db(db), a, b, rule, runs)
    if output is not None:
        export(frame, output)
    if fmt == "csv":
        print(frame.to_csv(index=False), end="")
    elif fmt == "json":
        print(frame.to_json(orient="records", indent=1))
    else:
        _comparison(frame, f"{b} against {a}" if b else f"study {a} against its baselines")
    if output is not None and fmt == "table":
        print(f"written: {output}")


def parse_threshold(text: str) -> float:
    """`5%` or `0.05` -> 0.05.

    Raises:
        UserError: not a positive percentage or fraction below 1.
    """
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise UserError(f"--threshold {text!r}: expected a percentage like 5% or a fraction like 0.05") from None
    if not 0 < value < 1:
        raise UserError(f"--threshold {text!r}: must be between 0 and 100 %")
    return value


def _comparison(frame, title: str) -> None:
    from orchestrator.nightly.report import p_text
    from results.compare import METRICS

    table = Table(title=title)
    for col in ("series", "metric", "baseline", "value", "change", "95 % interval", "p", "runs", "verdict"):
        table.add_column(col, justify="left" if col in ("series", "metric", "verdict") else "right")
    for row in frame.itertuples():
        relative = METRICS[row.metric].relative if row.metric in METRICS else True
        table.add_row(row.title, row.metric, _num(row.baseline), _num(row.value),
                      _change(row.ratio, relative),
                      f"{_change(row.low, relative)} .. {_change(row.high, relative)}" if _ok(row.low) else "-",
                      "-" if not _ok(row.p_value) else p_text(row.p_value),
                      f"{row.baseline_runs} / {row.new_runs}", row.verdict)
    stdout_console().print(table)


def _ok(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _num(value: Any) -> str:
    return f"{value:.4g}" if _ok(value) else "-"


def _change(value: Any, relative: bool) -> str:
    if not _ok(value):
        return "-"
    return f"{(value - 1) * 100:+.1f} %" if relative else f"{value:+.4f}"


def dashboard(
    output: Path = typer.Option(Path("dashboard.html"), "--output", "-o", help="the HTML file to write"),
    study: Optional[str] = typer.Option(None, "--study", help="the study page (chip selection) of this study id"),
    suite: Optional[str] = typer.Option(None, "--suite", help="the trend page of a suite; until suites are stored, the studies whose name starts with NAME"),
    run_ref: Optional[str] = typer.Option(None, "--run", help="the run page of a run id (or job id)"),
    latest: bool = typer.Option(False, "--latest", help="the study page of the newest study"),
    all_runs: bool = typer.Option(False, "--all", help="every stored run: study figures and every series' trend"),
    slo_p99_ms: Optional[float] = typer.Option(None, "--slo-p99-ms", help="latency objective of the recommendation (p99, ms)"),
    db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
    server: Optional[str] = typer.Option(None, "--server", help="fetch the --study page from a benchlab server (default: $BENCH_SERVER, else the config file; --db: local)"),
) -> None:
    """Write a self-contained HTML dashboard (opens offline) and print its path."""
    from orchestrator.dashboard import DashboardRequest, write

    if on_server(server, db, lambda client, remote: print(remote.dashboard(client, output, study, slo_p99_ms))):
        return
    print(write(DashboardRequest(output=output, study=study, suite=suite, run=run_ref, latest=latest,
                                 all_runs=all_runs, slo_p99_ms=slo_p99_ms, db=db)))


def register(app: typer.Typer) -> None:
    """Add `results`, `compare` and `dashboard`."""
    for verb in (results, compare, dashboard):
        app.command()(verb)
