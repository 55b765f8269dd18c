"""The nightly verbs of `bench`: nightly and compare.

Registered on the main app by `orchestrator/cli.py` (`register(app)`); each verb parses its
flags and calls a plain function (orchestrator/nightly/run.py, results/comparisons.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

INV_HELP = "inventory file (default: $BENCH_INVENTORY, else ./lab.yaml, else the device 'local')"
DB_HELP = "SQLAlchemy URL or SQLite path (default: $BENCH_DB, else ./bench.db)"


def nightly(
    suite: Path = typer.Argument(..., help="the suite file (.yaml): a study plus baseline policy and thresholds"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="folder for summary.md, junit.xml, trend.html (default: build/nightly/SUITE)"),
    inventory: Optional[str] = typer.Option(None, "--inventory", "-i", help=INV_HELP),
    db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Run a suite: queue its study, wait, judge every series against its baseline, confirm
    flagged ones with a re-run, write the summary, JUnit XML and trend page.
    Exit 0 clean, 1 regression found, 2 jobs left unfinished by infrastructure failures."""
    from orchestrator.nightly.report import EXIT_MEANING
    from orchestrator.nightly.run import run_nightly
    from orchestrator.render import stdout_console

    progress = _Progress()
    try:
        result = run_nightly(suite, inventory, db, out, progress=progress)
    finally:
        progress.close()
    console = stdout_console()
    counts = result.counts()
    console.print(f"nightly {result.nightly_id} of suite {result.suite.name} (study {result.study_id}): "
                  + ", ".join(f"{n} {s}" for s, n in counts.items()), highlight=False)
    from orchestrator.nightly.report import findings
    for night in result.nights:
        if night.state not in ("unchanged", "new", "baseline"):
            console.print(f"  {night.state}: {night.title}: {findings(night)}", highlight=False, markup=False)
    for name, path in result.outputs.items():
        console.print(f"{name}: {path}", highlight=False, markup=False)
    for note in result.notes:
        console.print(note, highlight=False, markup=False)
    console.print(f"exit {result.exit_code}: {EXIT_MEANING[result.exit_code]}", highlight=False)
    raise typer.Exit(result.exit_code)


class _Progress:
    """A live progress line per wait (the study, then the confirmation re-runs) on stderr."""

    def __init__(self):
        self.bars: list = []

    def __call__(self, label: str, total: int):
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        from orchestrator.commands.queue import STATES

        bar = Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                       console=Console(stderr=True))
        task = bar.add_task(label, total=total)
        bar.start()
        self.bars.append(bar)

        def show(counts: dict[str, int]) -> None:
            finished = sum(counts.get(s, 0) for s in ("done", "failed", "cancelled"))
            text = ", ".join(f"{counts[s]} {s}" for s in STATES if counts.get(s))
            bar.update(task, completed=finished, description=f"{label}: {text}")
            if finished >= total:
                bar.stop()
        return show

    def close(self) -> None:
        """Stop every line (a wait cut short by the deadline leaves its line unfinished)."""
        for bar in self.bars:
            bar.stop()


def compare(
    a: str = typer.Argument(..., help="the baseline: a run id, job id or study id"),
    b: Optional[str] = typer.Argument(None, help="compared with A: a run id, job id or study id (omit: study A against its baselines)"),
    threshold: Optional[str] = typer.Option(None, "--threshold", help="latency threshold, e.g. 5%% (default 5%%)"),
    alpha: float = typer.Option(0.001, "--alpha", help="level of the Mann-Whitney U test on raw latencies"),
    runs: int = typer.Option(10, "--runs", help="baseline runs per series (study against its baselines)"),
    fmt: str = typer.Option("table", "--format", "-f", help="table, csv or json on stdout"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="also write the comparison to .csv, .parquet or .json"),
    db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Compare two runs, two studies, or a study with its baselines: ratios, intervals, verdicts."""
    from orchestrator.commands.compare import show

    show(a, b, threshold, alpha, runs, fmt, output, db)


def register(app: typer.Typer) -> None:
    """Add the nightly verbs to the `bench` app."""
    app.command()(nightly)
    app.command()(compare)
