"""`bench nightly SUITE`: run a suite, judge it against its baselines, write its reports."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from orchestrator.cli.common import DB_HELP, INV_HELP, stdout_console


def nightly(
    suite: Path = typer.Argument(..., help="the suite file (.yaml): a study plus baseline policy and thresholds"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="folder for summary.md, junit.xml, trend.html (default: build/nightly/SUITE)"),
    inventory: Optional[str] = typer.Option(None, "--inventory", "-i", help=INV_HELP),
    db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Run a suite: queue its study, wait, judge every series against its baseline, confirm
    flagged ones with a re-run, write the summary, JUnit XML and trend page.
    Exit 0 clean, 1 regression found, 2 jobs left unfinished by infrastructure failures."""
    from orchestrator.cli.render import StudyProgress
    from orchestrator.nightly.report import EXIT_MEANING, findings
    from orchestrator.nightly.run import run_nightly

    with StudyProgress() as progress:
        result = run_nightly(suite, inventory, db, out, progress=progress)
    console = stdout_console()
    counts = result.counts()
    console.print(f"nightly {result.nightly_id} of suite {result.suite.name} (study {result.study_id}): "
                  + ", ".join(f"{n} {s}" for s, n in counts.items()), highlight=False)
    for night in result.nights:
        if night.state not in ("unchanged", "new", "baseline"):
            console.print(f"  {night.state}: {night.title}: {findings(night)}", highlight=False, markup=False)
    for name, path in result.outputs.items():
        console.print(f"{name}: {path}", highlight=False, markup=False)
    for note in result.notes:
        console.print(note, highlight=False, markup=False)
    console.print(f"exit {result.exit_code}: {EXIT_MEANING[result.exit_code]}", highlight=False)
    raise typer.Exit(result.exit_code)


def register(app: typer.Typer) -> None:
    """Add `nightly`."""
    app.command()(nightly)
