"""Executing queued work: the scheduler (pure), the dispatcher and its device workers (I/O),
retry and health policy, and the devices' transports, probes and health checks.

`run_study` works one study off with an embedded dispatcher (bench run, bench submit --wait,
bench nightly); `work` runs a dispatcher over devices until stopped (bench worker). An
`Observer` sees each job start and finish (bench run's per-job progress).

This package imports nothing of plan, enqueue, server, nightly or cli.
"""

from __future__ import annotations

import signal
import threading
from typing import Callable

from sqlalchemy.engine import Engine

from inventory import Device
from orchestrator.execute.dispatcher import DispatchConfig, Dispatcher
from orchestrator.execute.observer import Collect, Observer
from results import fleet, queue

__all__ = ["Collect", "DispatchConfig", "Observer", "run_study", "stop_on_signals", "work"]


def run_study(db: Engine, devices: list[Device], study_id: str, config: DispatchConfig | None = None,
              on_step: Callable[[dict[str, int]], None] | None = None,
              stop: threading.Event | None = None, observer: Observer | None = None,
              only_study: bool = False) -> dict[str, int]:
    """Work one queued study off here: an embedded dispatcher over `devices` until every job
    of the study is finished, or `stop` is set.

    Args:
        db: the database holding the queue.
        devices: the devices to drive.
        study_id: the study to wait for.
        config: a DispatchConfig (default: the defaults).
        on_step: called after each scheduling step with the study's jobs per state.
        stop: set to stop early (default: SIGINT/SIGTERM set it).
        observer: sees each job start and finish.
        only_study: run only this study's jobs (else other queued jobs on these devices are
            served too, by priority).
    Returns:
        The study's jobs per state.
    """
    dispatcher = Dispatcher(db, devices, config, observer=observer,
                            only_study=study_id if only_study else None)
    step = (lambda: on_step(fleet.state_counts(db, study_id))) if on_step else None
    dispatcher.run(until=lambda: queue.open_jobs(db, study_id) == 0,
                   stop=stop or stop_on_signals(), on_step=step)
    return fleet.state_counts(db, study_id)


def work(devices: list[Device], db: Engine, until_idle: bool, config: DispatchConfig | None = None,
         stop: threading.Event | None = None, on_step: Callable[[], None] | None = None) -> None:
    """Run an embedded dispatcher over `devices` until `stop` is set (default: SIGINT or
    SIGTERM), or with `until_idle` until no job it could run is left."""
    dispatcher = Dispatcher(db, devices, config)
    dispatcher.run(until=(lambda: dispatcher.idle) if until_idle else None,
                   stop=stop or stop_on_signals(), on_step=on_step)


def stop_on_signals() -> threading.Event:
    """An Event that SIGINT and SIGTERM set (handlers installed only on the main thread)."""
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    return stop
