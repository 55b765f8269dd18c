"""One worker thread per device: it runs that device's claimed jobs, probes and health checks,
one at a time, through the device's transport, and writes each outcome to the database.

A run is judged against its study's accuracy limit (`max_accuracy_drop` in the study row's
spec) before it is stored, so every road (bench run, submit, the server, nightly) flags an
`accuracy-failed` variant the same way."""

from __future__ import annotations

import logging
import queue as stdqueue
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from sqlalchemy.engine import Engine

from agents.engines import get_engine
from agents.errors import BenchError
from agents.spec import JobSpec, RunResult
from inventory import Device
from inventory.model import LocalConfig
from orchestrator.execute import devices as dev
from orchestrator.execute.observer import Observer
from orchestrator.execute.policy import (Health, HealthPolicy, Outcome, RetryPolicy, after_run,
                                         apply_accuracy_limit, health_after_check, health_after_run)
from orchestrator.transports.base import Progress, Transport
from results import fleet, queue
from results.ingest import ingest

log = logging.getLogger("benchlab.dispatcher")
GRACE_S = 30.0


@dataclass
class WorkerContext:
    """What every worker shares: the database, who holds the leases, the clock and policies,
    who watches the jobs, and each study's spec (read once per study)."""

    db: Engine
    holder: str
    clock: Callable[[], float]
    retry: RetryPolicy
    health: HealthPolicy
    job_timeout_s: float
    wake: threading.Event
    observer: Observer | None = None
    studies: dict[str, dict[str, Any]] = field(default_factory=dict)

    def accuracy_limit(self, study_id: str) -> float | None:
        """The study's max_accuracy_drop (None: no limit)."""
        if study_id not in self.studies:
            self.studies[study_id] = queue.study_spec(self.db, study_id)
        return self.studies[study_id].get("max_accuracy_drop")


def health_columns(h: Health) -> dict:
    """A Health as device columns."""
    return {"health": "quarantined" if h.quarantined else "ok", "failures": h.failures,
            "health_reason": h.reason, "health_checked_s": h.checked_at or None,
            "quarantined_s": h.since if h.quarantined else None}


class DeviceWorker:
    """Runs everything that touches one device, in order, on its own thread."""

    def __init__(self, device: Device, transport: Transport, ctx: WorkerContext, health: Health):
        self.device, self.transport, self.ctx, self.health = device, transport, ctx, health
        self.current: str | None = None
        self.cancelled: set[str] = set()
        self.stopping = False
        self._inbox: stdqueue.Queue = stdqueue.Queue()
        self._pending = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name=f"device-{device.name}", daemon=True)

    @property
    def busy(self) -> bool:
        """Whether a task is queued or running here."""
        return self._pending > 0

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def submit(self, task: Callable[[], None]) -> None:
        """Queue a task (run_job, check, probe) for this device."""
        with self._lock:
            self._pending += 1
        self._inbox.put(task)

    def cancel(self, job_id: str) -> None:
        """Stop `job_id` if it is queued or running here; it ends `cancelled`."""
        self.cancelled.add(job_id)
        if self.current == job_id:
            self.transport.cancel(job_id)

    def stop(self, timeout_s: float = 60.0) -> None:
        """Stop after the current task (interrupting it); claimed jobs not started go back to
        the queue."""
        self.stopping = True
        if self.current:
            self.transport.cancel(self.current)
        self._inbox.put(None)
        self._thread.join(timeout_s)

    def _loop(self) -> None:
        while True:
            task = self._inbox.get()
            if task is None:
                return
            try:
                task()
            except Exception:  # a bug in one task must not kill the device's worker
                log.exception("%s: task failed", self.device.name)
            finally:
                with self._lock:
                    self._pending -= 1
                self.ctx.wake.set()

    def run_job(self, claimed: queue.Claimed) -> None:
        """Run one claimed attempt, store its run, and end it in the queue."""
        if self.stopping:
            return self._end(claimed, Outcome("queued", reason="orchestrator stopped first"))
        state = queue.mark_running(self.ctx.db, claimed.job_id, self.ctx.holder)
        if state == "cancel":
            return self._end(claimed, Outcome("cancelled", reason="cancelled by the user"))
        if state != "running":
            return None  # the lease expired and another attempt owns the job
        spec = self._spec(claimed)
        observer = self.ctx.observer
        self.current = claimed.job_id
        try:
            result = self._execute(spec, observer.started(spec) if observer else None)
        finally:
            self.current = None
        apply_accuracy_limit(result, self.ctx.accuracy_limit(claimed.study_id))
        ingest(self.ctx.db, result)
        if observer:
            observer.finished(result)
        outcome, counted = self._outcome(claimed, result)
        self._end(claimed, outcome, result if counted else None,
                  reached_engine=result.status != "infra-error")

    def _outcome(self, c: queue.Claimed, result: RunResult) -> tuple[Outcome, bool]:
        """The job's next state, and whether the run says something about the device's health."""
        now, cancelled = self.ctx.clock(), c.job_id in self.cancelled
        if self.stopping and not cancelled and result.status == "infra-error":
            return Outcome("queued", reason="orchestrator stopped while it ran"), False
        status = "skipped" if result.skipped else result.status
        outcome = after_run(self.ctx.retry, status, c.attempt, c.max_attempts,
                            self.device.name, now, cancelled, result.error)
        return outcome, not cancelled

    def _end(self, c: queue.Claimed, outcome: Outcome, counted: RunResult | None = None,
             reached_engine: bool = False) -> None:
        now, values = self.ctx.clock(), None
        if counted is not None:
            before = self.health.quarantined
            self.health = health_after_run(self.ctx.health, self.health, counted.status, now, counted.error)
            values = health_columns(self.health)
            if self.health.quarantined and not before:
                log.warning("%s: quarantined: %s", self.device.name, self.health.reason)
        done = queue.finish(self.ctx.db, c.job_id, self.device.name, self.ctx.holder, c.attempt,
                            queue.Finish(outcome.state, outcome.reason, outcome.not_before or None,
                                         outcome.avoid, c.artifact if reached_engine else None),
                            now, values)
        log.info("%s: job %s attempt %d: %s%s", self.device.name, c.job_id, c.attempt,
                 outcome.state, "" if done else " (lease lost: another attempt owns the job)")

    def _spec(self, c: queue.Claimed) -> JobSpec:
        spec = JobSpec.from_dict({**c.spec, "device": self.device.name, "attempt": c.attempt})
        conn = self.device.connection
        if isinstance(conn, LocalConfig) and conn.threads and "threads" not in spec.variant.options:
            _set_threads(spec, conn.threads)
        if spec.power.sensor == "none" and self.device.power is not None:
            spec.power = self.device.power
        if spec.run.timeout_s is None:
            spec.run.timeout_s = self.ctx.job_timeout_s
        return spec  # local paths: the transport ships the files, once, in `run`

    def _execute(self, spec: JobSpec, progress: Progress | None = None) -> RunResult:
        # The transport enforces the job's timeout; this watchdog catches a transport that hangs.
        watchdog = threading.Timer(spec.run.timeout_s + GRACE_S, self.transport.cancel, [spec.job_id])
        watchdog.daemon = True
        watchdog.start()
        try:
            return self.transport.run(spec, progress)
        except Exception as e:
            return RunResult(job_id=spec.job_id, attempt=spec.attempt, status="infra-error", job=spec,
                             error=f"{self.device.name}: transport failed: {type(e).__name__}: {e}",
                             error_type=type(e).__name__)
        finally:
            watchdog.cancel()

    def check(self) -> None:
        """Health check (probe + tiny job); a pass brings the device back from quarantine."""
        engines = dev.available_engines(self._stored_probe())
        reason = dev.health_check(self.transport, self.device.name, engines)
        now = self.ctx.clock()
        self.health = health_after_check(self.health, reason is None, now, reason)
        fleet.set_device(self.ctx.db, self.device.name, **health_columns(self.health))
        log.warning("%s: health check %s%s", self.device.name, "passed" if reason is None else "failed",
                    "" if reason is None else f": {reason}")

    def probe(self) -> None:
        """Probe the device and store what it found."""
        found, why = dev.probe(self.transport)
        now = self.ctx.clock()
        if found is not None:
            fleet.store_probe(self.ctx.db, self.device.name, found, now)
            fleet.set_device(self.ctx.db, self.device.name, health_reason=None)
        else:
            fleet.set_device(self.ctx.db, self.device.name, health_reason=f"probe failed: {why}",
                             health_checked_s=now)
            log.warning("%s: probe failed: %s", self.device.name, why)

    def _stored_probe(self) -> dict | None:
        rows = fleet.device_rows(self.ctx.db, [self.device.name])
        return rows[0].probe if rows else None


def _set_threads(spec: JobSpec, threads: int) -> None:
    options = {**spec.variant.options, "threads": threads}
    try:
        get_engine(spec.variant.engine).options(options, source="device threads")
    except BenchError:
        return  # this engine has no thread setting
    spec.variant.options = options
