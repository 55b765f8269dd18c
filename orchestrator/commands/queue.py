"""`bench status [STUDY]`, `bench cancel STUDY|JOB` and `bench worker`: the queue from a
user's side, and the embedded dispatcher that works it off."""

from __future__ import annotations

import signal
import threading
import time
from typing import Callable

from rich.console import Console
from rich.table import Table

from inventory import load_inventory, select
from orchestrator.dispatcher import DispatchConfig, Dispatcher
from orchestrator.policy import FINAL_STATES
from orchestrator.scheduler import PRIORITIES
from results import fleet
from results.db import open_db

STATES = ("queued", "leased", "running", "done", "failed", "cancelled")


def status(console: Console, db: str | None, study: str | None) -> None:
    """Jobs per state and per device, of one study or of the recent ones."""
    engine = open_db(db)
    if study is None:
        _studies(console, engine)
    else:
        counts = fleet.state_counts(engine, study)
        if not counts:
            from agents.errors import UserError
            raise UserError(f"no queued study '{study}' (see `bench status` for the recent ones)")
        total = sum(counts.values())
        final = sum(counts.get(s, 0) for s in FINAL_STATES)
        console.print(f"study {study}: {final}/{total} finished; " + _counts(counts))
    _devices(console, engine, study)


def _studies(console: Console, engine) -> None:
    table = Table(title="recent studies")
    for col in ("study", "name", "priority", "submitted (UTC)", *STATES):
        table.add_column(col)
    for s in fleet.recent_studies(engine):
        counts = fleet.state_counts(engine, s.id)
        table.add_row(s.id, s.name, PRIORITIES[s.priority] if s.priority is not None else "-",
                      s.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                      *[str(counts.get(state, 0) or "") for state in STATES])
    console.print(table)


def _devices(console: Console, engine, study: str | None) -> None:
    per_device = fleet.device_counts(engine, study)
    rows = {r.name: r for r in fleet.device_rows(engine)}
    table = Table(title="jobs per device" + (f" of study {study}" if study else ""))
    for col in ("device", "device state", *STATES):
        table.add_column(col)
    from orchestrator.commands.fleet import device_state
    for name in sorted(per_device):
        table.add_row(name, device_state(rows.get(name)) if name in rows else "(pool)",
                      *[str(per_device[name].get(state, 0) or "") for state in STATES])
    console.print(table)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{counts[s]} {s}" for s in STATES if counts.get(s))


def cancel(console: Console, db: str | None, target: str) -> None:
    """Cancel a study or a job: queued jobs at once, running ones by their worker."""
    kind, counts = fleet.cancel(open_db(db), target, time.time())
    console.print(f"{kind} {target}: {counts['cancelled']} queued job(s) cancelled, "
                  f"{counts['stopping']} running job(s) being stopped")


def work(inventory: str | None, db: str | None, selector: str | None, until_idle: bool,
         config: DispatchConfig, stop: threading.Event | None = None,
         on_step: Callable[[], None] | None = None) -> None:
    """Run the embedded dispatcher over the inventory's devices (or the selected ones) until
    SIGINT/SIGTERM, or with `until_idle` until no job it could run is left."""
    inv = load_inventory(inventory)
    devices = select(inv, selector) if selector else list(inv.devices.values())
    dispatcher = Dispatcher(open_db(db), devices, config)
    stop = stop or _stop_on_signals()
    dispatcher.run(until=(lambda: dispatcher.idle) if until_idle else None, stop=stop, on_step=on_step)


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    return stop
