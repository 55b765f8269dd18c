"""`bench run MODEL`: submit a study to the embedded queue on this machine's `local` device,
work it off with a local worker, wait, and print a line per job and the table of its runs.

The same road as `bench submit --wait`; what differs is chosen here: one attempt per job, no
quarantine (a failing variant must not take `local` out of service), only this study's jobs,
the built-in `local` device whatever ./lab.yaml says, and a progress line per job.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

import typer

from orchestrator.cli.common import DB_HELP, RUN_KNOBS, err, stdout_console, with_knobs

INTERRUPTED = 130


@with_knobs(*RUN_KNOBS)
def run(
    model: Path = typer.Argument(..., help="the model file (.onnx)"),
    knobs=None,
    as_json: bool = typer.Option(False, "--json", help="print the RunResults as a JSON list"),
    db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Benchmark MODEL on this machine with each engine and precision; store every run."""
    from inventory.model import LOCAL_DEVICE, Inventory
    from inventory.yamlsrc import Where
    from orchestrator import enqueue, execute
    from orchestrator.cli import render
    from orchestrator.execute.dispatcher import DispatchConfig
    from orchestrator.execute.policy import NEVER, HealthPolicy, failed
    from orchestrator.plan.knobs import study_from_flags
    from results import fleet
    from results.db import open_db

    study = study_from_flags(model, knobs, "run")
    prepared = enqueue.check(study, Inventory(devices={"local": LOCAL_DEVICE}), Where("bench run"))
    done = enqueue.submit(prepared, open_db(db))  # nothing above touched a database
    for line in done.skipped:
        err.print(f"skipped: {line}", markup=False, highlight=False)
    stop = execute.stop_on_signals()
    with render.JobProgress(err, enabled=not as_json) as bar:
        collect = execute.Collect(bar.track, bar.finish)
        execute.run_study(done.db, done.devices, done.row.id,
                          DispatchConfig(health=HealthPolicy(quarantine_after=NEVER)),
                          stop=stop, observer=collect, only_study=True)
    if stop.is_set():  # Ctrl-C: leave nothing of this study queued
        fleet.cancel(done.db, done.row.id, time.time())
        raise typer.Exit(INTERRUPTED)
    order = {job_id: i for i, job_id in enumerate(done.job_ids)}
    results = sorted(collect.results, key=lambda r: order.get(r.job_id, len(order)))
    if as_json:
        print(json.dumps([r.to_dict() for r in results], indent=1))
    else:
        render.run_table(stdout_console(), results)
    if failed(results) or len(results) < done.jobs:
        raise typer.Exit(2)


def register(app: typer.Typer) -> None:
    """Add `run`."""
    app.command()(run)
