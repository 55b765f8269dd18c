"""`bench submit`, `bench status`, `bench cancel`, `bench worker`: the queue from a user's side
(locally, or on a server with `--server`), and the embedded dispatcher that works it off."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from agents.errors import UserError
from orchestrator.cli.common import (DB_HELP, INV_HELP, RUN_KNOBS, SERVER_HELP, STUDY_KNOBS,
                                     on_server, remote_client, stdout_console, with_knobs)


@with_knobs(*RUN_KNOBS, *STUDY_KNOBS)
def submit(
    target: Path = typer.Argument(..., help="a model file (.onnx), or a study file (.yaml)"),
    knobs=None,
    wait: bool = typer.Option(False, "--wait", help="run the study here (embedded worker) and print its results"),
    inventory: Optional[str] = typer.Option(None, "--inventory", "-i", help=INV_HELP),
    db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
    server: Optional[str] = typer.Option(None, "--server", help=SERVER_HELP),
) -> None:
    """Queue a study (MODEL x devices x engines x precisions x scenarios x batch sizes)."""
    from inventory import load_inventory
    from inventory.yamlsrc import Where
    from orchestrator import enqueue
    from results.db import open_db

    client = remote_client(server, db)
    study = _study(target, knobs, remote=client is not None)
    if client is not None:  # a server queues and runs it (`--wait` follows it from here)
        from orchestrator.cli import remote
        with client:
            code = remote.submit(client, stdout_console(), Console(stderr=True), study, wait)
        raise typer.Exit(code)
    prepared = enqueue.check(study, load_inventory(inventory), Where("bench submit"))
    done = enqueue.submit(prepared, open_db(db))
    out = stdout_console()
    out.print(f"queued study {done.row.id} ({done.row.name}): {done.jobs} job(s) on "
              f"{len(done.devices)} device(s), priority {study.priority}")
    for line in done.skipped:
        out.print(f"  skipped: {line}", markup=False, highlight=False)
    if not wait:
        out.print(f"run `bench worker` to work the queue off; `bench status {done.row.id}` shows progress")
        return
    if _wait_and_show(done, out):
        raise typer.Exit(2)


def _study(target: Path, knobs, remote: bool):
    """The study of a study file (its priority replaced by --priority), or of a model file and
    the knobs. Sent to a server without --engines, it names none: the server picks what its
    devices have, whatever is installed here (the flags are checked against every known engine)."""
    from dataclasses import replace

    from agents.engines import known_engines
    from orchestrator.plan.knobs import study_from_flags

    if target.suffix.lower() in (".yaml", ".yml"):
        from orchestrator.plan.studyfile import load_study
        study = load_study(target)
        study.priority = knobs.priority or study.priority
        return study
    if not (remote and knobs.engines is None):
        return study_from_flags(target, knobs, "submit")
    study = study_from_flags(target, replace(knobs, engines=",".join(known_engines())), "submit")
    study.engines = []
    return study


def _wait_and_show(done, out: Console) -> bool:
    """Run the study here with a live progress line; print its runs. True if a job failed."""
    from orchestrator import execute
    from orchestrator.cli.render import StudyProgress
    from orchestrator.cli.results import show
    from orchestrator.execute.dispatcher import DispatchConfig

    with StudyProgress() as progress:
        counts = execute.run_study(done.db, done.devices, done.row.id, DispatchConfig(),
                                   on_step=progress(f"study {done.row.id}", done.jobs))
    show(out, done.db.url.render_as_string(hide_password=False), None, "table", done.row.id, None)
    out.print(f"study {done.row.id}: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    out.print(f"more: bench results --study {done.row.id}; bench dashboard --study {done.row.id}")
    return any(counts.get(s) for s in ("failed", "cancelled", "queued", "leased", "running"))


def status(study: Optional[str] = typer.Argument(None, help="a study id (default: the recent studies)"),
           db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
           server: Optional[str] = typer.Option(None, "--server", help=SERVER_HELP)) -> None:
    """Jobs per state and per device, of one study or of the recent ones."""
    from orchestrator.execute.policy import FINAL_STATES, STATES
    from orchestrator.plan.study import PRIORITIES
    from results import fleet
    from results.db import open_db

    if on_server(server, db, lambda client, remote: remote.status(client, stdout_console(), study)):
        return
    engine, console = open_db(db), stdout_console()
    if study is None:
        table = Table(title="recent studies")
        for col in ("study", "name", "priority", "submitted (UTC)", *STATES):
            table.add_column(col)
        for s in fleet.recent_studies(engine):
            counts = fleet.state_counts(engine, s.id)
            table.add_row(s.id, s.name, PRIORITIES[s.priority] if s.priority is not None else "-",
                          s.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                          *[str(counts.get(state, 0) or "") for state in STATES])
        console.print(table)
    else:
        counts = fleet.state_counts(engine, study)
        if not counts:
            raise UserError(f"no queued study '{study}' (see `bench status` for the recent ones)")
        final = sum(counts.get(s, 0) for s in FINAL_STATES)
        console.print(f"study {study}: {final}/{sum(counts.values())} finished; "
                      + ", ".join(f"{counts[s]} {s}" for s in STATES if counts.get(s)))
    _devices(console, engine, study)


def _devices(console: Console, engine, study: str | None) -> None:
    from orchestrator.execute.policy import STATES
    from orchestrator.execute.devices import device_state
    from results import fleet

    per_device = fleet.device_counts(engine, study)
    rows = {r.name: r for r in fleet.device_rows(engine)}
    table = Table(title="jobs per device" + (f" of study {study}" if study else ""))
    for col in ("device", "device state", *STATES):
        table.add_column(col)
    for name in sorted(per_device):
        table.add_row(name, device_state(rows.get(name)) if name in rows else "(pool)",
                      *[str(per_device[name].get(state, 0) or "") for state in STATES])
    console.print(table)


def cancel(target: str = typer.Argument(..., help="a study id or a job id"),
           db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
           server: Optional[str] = typer.Option(None, "--server", help=SERVER_HELP)) -> None:
    """Cancel a study or a job: queued jobs at once, running ones are stopped by their worker."""
    from results import fleet
    from results.db import open_db

    if on_server(server, db, lambda client, remote: remote.cancel(client, stdout_console(), target)):
        return
    kind, counts = fleet.cancel(open_db(db), target, time.time())
    stdout_console().print(f"{kind} {target}: {counts['cancelled']} queued job(s) cancelled, "
                           f"{counts['stopping']} running job(s) being stopped")


def worker(
    devices: Optional[str] = typer.Option(None, "--devices", "-d", help="only these devices (selector; default: all)"),
    until_idle: bool = typer.Option(False, "--until-idle", help="exit once no job for these devices is left"),
    lease_ttl: float = typer.Option(60.0, "--lease-ttl", help="seconds a lease lives without a heartbeat"),
    heartbeat: float = typer.Option(10.0, "--heartbeat", help="seconds between heartbeats"),
    poll: float = typer.Option(1.0, "--poll", help="longest pause between scheduling steps"),
    job_timeout: float = typer.Option(3600.0, "--job-timeout", help="per-job limit when the study sets none"),
    quarantine_after: int = typer.Option(3, "--quarantine-after", help="consecutive infra-errors that quarantine a device"),
    check_interval: float = typer.Option(60.0, "--check-interval", help="seconds between health checks of a quarantined device"),
    backoff: float = typer.Option(5.0, "--backoff", help="seconds before the first retry (doubles each time)"),
    inventory: Optional[str] = typer.Option(None, "--inventory", "-i", help=INV_HELP),
    db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Run the embedded orchestrator (scheduler + dispatcher) over the fleet until Ctrl-C."""
    from inventory import load_inventory, select
    from orchestrator import execute
    from orchestrator.execute.dispatcher import DispatchConfig
    from orchestrator.execute.policy import HealthPolicy, RetryPolicy
    from results.db import open_db

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    config = DispatchConfig(lease_ttl_s=lease_ttl, heartbeat_s=heartbeat, poll_s=poll,
                            job_timeout_s=job_timeout, retry=RetryPolicy(backoff_s=backoff),
                            health=HealthPolicy(quarantine_after, check_interval))
    inv = load_inventory(inventory)
    chosen = select(inv, devices) if devices else list(inv.devices.values())
    execute.work(chosen, open_db(db), until_idle, config)


def register(app: typer.Typer) -> None:
    """Add `submit`, `status`, `cancel` and `worker`."""
    for verb in (submit, status, cancel, worker):
        app.command()(verb)
