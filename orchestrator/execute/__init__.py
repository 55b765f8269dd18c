"""Executing queued work: the scheduler (pure), the dispatcher and its device workers (I/O),
retry and health policy, and the devices' transports, probes and health checks.

`run_study` works one study off with an embedded dispatcher (bench run, bench submit --wait,
bench nightly); `work` runs a dispatcher over devices until stopped (bench worker). An
`Observer` sees each job start and finish (bench run's per-job progress).

This package imports nothing of plan, enqueue, server, nightly or cli.
"""

from __future__ import annotations

import threading
from typing import Callable, Protocol

from agents.spec import JobSpec, RunResult
from inventory import Device
from orchestrator.transports.base import Progress


class Observer(Protocol):
    """Sees each job a worker runs: before (may return a Progress for the transport) and after
    its run was stored."""

    def started(self, spec: JobSpec) -> Progress | None:
        """A job is about to run.

        Args:
            spec: the job, with its device settings filled in.
        Returns:
            A Progress the transport reports to, or None.
        """

    def finished(self, result: RunResult) -> None:
        """A job's run was stored (after the accuracy limit was applied).

        Args:
            result: the run.
        """


class Collect:
    """An Observer that forwards to two callbacks and keeps every finished RunResult."""

    def __init__(self, track: Callable[[JobSpec], Progress | None] = lambda spec: None,
                 finish: Callable[[RunResult], None] = lambda result: None):
        self.track, self.finish = track, finish
        self.results: list[RunResult] = []

    def started(self, spec: JobSpec) -> Progress | None:
        """Forward to `track`."""
        return self.track(spec)

    def finished(self, result: RunResult) -> None:
        """Keep the result and forward it to `finish`."""
        self.results.append(result)
        self.finish(result)


def run_study(db, devices: list[Device], study_id: str, config=None,
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
    raise NotImplementedError  # WP-B step 3


def work(devices: list[Device], db, until_idle: bool, config=None,
         stop: threading.Event | None = None, on_step: Callable[[], None] | None = None) -> None:
    """Run an embedded dispatcher over `devices` until `stop` is set (default: SIGINT or
    SIGTERM), or with `until_idle` until no job it could run is left."""
    raise NotImplementedError  # WP-B step 3


def stop_on_signals() -> threading.Event:
    """An Event that SIGINT and SIGTERM set (handlers installed only on the main thread)."""
    raise NotImplementedError  # WP-B step 3
