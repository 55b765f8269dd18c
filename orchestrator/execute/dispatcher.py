"""The dispatcher: the I/O around the pure scheduler. Embedded in `bench worker`, `bench run`,
`bench submit --wait`, `bench nightly` and the server; any number of them may share one database.

Each step: expire stale leases (a dead holder's, or past their TTL) back into the queue, read
the queue and the devices from the database, let `scheduler.schedule` decide, claim the
chosen (job, device) pairs in one transaction, and hand each claimed job to its device's
worker thread (execute/worker.py). A heartbeat thread renews this dispatcher's leases
and stops the jobs users cancel. Probes of unprobed devices and health checks of quarantined
ones also run on the device's worker, so nothing else ever runs beside a benchmark.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from functools import partial
from typing import Callable, Sequence

from sqlalchemy.engine import Engine

from agents.errors import BenchError
from inventory import Device
from orchestrator.execute import devices as dev
from orchestrator.execute.policy import (Health, HealthPolicy, RetryPolicy, after_expiry, after_run,
                                 check_due)
from orchestrator.execute.scheduler import DeviceState, Lease, QueuedJob, schedule
from orchestrator.execute.observer import Observer
from orchestrator.execute.worker import DeviceWorker, WorkerContext
from results import fleet, queue

log = logging.getLogger("benchlab.dispatcher")


@dataclass
class DispatchConfig:
    """Timing and policies of a dispatcher.

    Args:
        lease_ttl_s: a lease not renewed for this long expires and its job is requeued.
        heartbeat_s: how often leases are renewed and cancellations looked up.
        poll_s: the longest pause between two scheduling steps.
        job_timeout_s: per-job limit when the study sets no `run.timeout_s`.
    """

    lease_ttl_s: float = 60.0
    heartbeat_s: float = 10.0
    poll_s: float = 1.0
    job_timeout_s: float = 3600.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    health: HealthPolicy = field(default_factory=HealthPolicy)


def make_holder() -> str:
    """This process's lease-holder id: host:pid:token."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def holder_is_dead(holder: str) -> bool:
    """Whether a holder is a process of this host that no longer runs (or is a zombie)."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True
    except OSError:
        return False


class Dispatcher:
    """Runs queued jobs on `devices` until told to stop.

    Args:
        db: the database holding the queue.
        devices: the devices this dispatcher drives (one worker thread each).
        config: timing and policies.
        transport_factory: (device, die_with_parent=...) -> Transport.
        clock: epoch seconds; tests pass a fake one.
        observer: sees each job start and finish (bench run's progress lines).
        only_study: serve only this study's queued jobs (bench run), not the whole queue.
    """

    def __init__(self, db: Engine, devices: Sequence[Device], config: DispatchConfig | None = None,
                 transport_factory: Callable = dev.transport_for, clock: Callable[[], float] = time.time,
                 observer: Observer | None = None, only_study: str | None = None):
        self.db, self.config, self.clock = db, config or DispatchConfig(), clock
        self.holder, self.only_study = make_holder(), only_study
        self.wake, self.stopped = threading.Event(), threading.Event()
        ctx = WorkerContext(db, self.holder, clock, self.config.retry, self.config.health,
                            self.config.job_timeout_s, self.wake, observer)
        fleet.sync_devices(db, [(d.name, d.transport, d.describe()) for d in devices])
        rows = {r.name: r for r in fleet.device_rows(db, [d.name for d in devices])}
        self.workers: dict[str, DeviceWorker] = {}
        for d in devices:
            try:
                transport = transport_factory(d, die_with_parent=True, setup=rows[d.name].setup)
            except BenchError as e:
                log.warning("%s: cannot drive this device: %s", d.name, e)
                continue
            self.workers[d.name] = DeviceWorker(d, transport, ctx, _health(rows[d.name]))
        self._pools: dict[str, frozenset[str]] = {}
        self._probe_tried: dict[str, float] = {}
        self._heartbeat = threading.Thread(target=self._beat, name="heartbeat", daemon=True)
        self.idle = False

    def start(self) -> None:
        """Start the worker threads and the heartbeat."""
        for w in self.workers.values():
            w.start()
        self._heartbeat.start()

    def run(self, until: Callable[[], bool] | None = None, stop: threading.Event | None = None,
            on_step: Callable[[], None] | None = None) -> None:
        """Step until `until()` holds or `stop` is set, then shut down."""
        stop = stop or threading.Event()
        self.start()
        try:
            while not stop.is_set():
                self.step()
                if on_step:
                    on_step()
                if until is not None and until():
                    break
                self.wake.wait(self.config.poll_s)
                self.wake.clear()
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        """Stop the heartbeat and the workers; jobs they held go back to the queue."""
        self.stopped.set()
        for w in self.workers.values():
            w.stop()

    def step(self) -> int:
        """One scheduling step. Returns how many jobs it handed to workers."""
        now = self.clock()
        self._expire(now)
        self._maintain(now)
        rows = fleet.device_rows(self.db, list(self.workers))
        jobs = self._queued()
        leases = [Lease(r.job_id, r.device, r.expires_s or 0.0) for r in queue.leases(self.db)]
        # A worker busy with a probe or a health check holds its device like a lease does.
        held = leases + [Lease("", n, now) for n, w in self.workers.items() if w.busy]
        states = [self._state(r) for r in rows]
        chosen = schedule(jobs, states, held, now, self.config.lease_ttl_s,
                          queue.last_served(self.db) if jobs else None)
        claimed = queue.claim(self.db, [(a.job_id, a.device) for a in chosen], self.holder,
                              now, self.config.lease_ttl_s)
        for c in claimed:
            self.workers[c.device].submit(partial(self.workers[c.device].run_job, c))
        mine = set(self.workers)
        self.idle = not claimed and not any(w.busy for w in self.workers.values()) \
            and all(p.isdisjoint(mine) for p in {job.pool for job in jobs}) \
            and not any(l.device in mine for l in leases)
        return len(claimed)

    def _state(self, row) -> DeviceState:
        return DeviceState(row.name, dev.available_engines(row.probe), row.health == "ok",
                           row.last_artifact or "")

    def _queued(self) -> list[QueuedJob]:
        rows = queue.queued(self.db, self.only_study)
        missing = sorted({r.pool_id for r in rows} - set(self._pools))
        for pid, names in queue.pools(self.db, missing).items():
            self._pools[pid] = frozenset(names)
        return [QueuedJob(r.id, r.study_id, r.engine, self._pools.get(r.pool_id, frozenset()),
                          r.priority, r.artifact_key or "", r.not_before_s or 0.0,
                          frozenset(r.avoid or ())) for r in rows]

    def _expire(self, now: float) -> None:
        holders = {r.holder for r in queue.leases(self.db) if r.holder and r.holder != self.holder}
        dead = [h for h in holders if holder_is_dead(h)]
        for st in queue.stale(self.db, now, dead):
            if st.holder == self.holder:
                continue  # ours: still running here; the heartbeat renews it
            if st.run_status:  # its run was stored before the holder died: do not run it again
                out = after_run(self.config.retry, st.run_status, st.attempt, st.max_attempts,
                                st.device, now, st.cancel_requested, st.run_error)
            else:
                out = after_expiry(self.config.retry, st.attempt, st.max_attempts, st.device, now,
                                   st.cancel_requested)
            queue.finish(self.db, st.job_id, st.device, st.holder, st.attempt,
                         queue.Finish(out.state, out.reason, out.not_before or None, out.avoid), now)
            log.warning("%s: lease of job %s (attempt %d, holder %s) expired: %s", st.device,
                        st.job_id, st.attempt, st.holder, out.state)

    def _maintain(self, now: float) -> None:
        """Probe devices never probed; health-check quarantined ones when due."""
        for row in fleet.device_rows(self.db, list(self.workers)):
            w = self.workers[row.name]
            if row.health == "ok" and w.health.quarantined:
                w.health = _health(row)  # released by hand (`bench fleet release`)
            if w.busy or row.lease_job_id:
                continue
            if not row.probe:
                if now - self._probe_tried.get(row.name, -1e18) >= self.config.health.check_interval_s:
                    self._probe_tried[row.name] = now
                    w.submit(w.probe)
            elif check_due(self.config.health, w.health, now):
                w.submit(w.check)

    def _beat(self) -> None:
        while not self.stopped.wait(self.config.heartbeat_s):
            try:
                cancel = queue.heartbeat(self.db, self.holder, self.clock(), self.config.lease_ttl_s)
            except Exception:
                log.exception("heartbeat failed")
                continue
            for job_id in cancel:
                for w in self.workers.values():
                    w.cancel(job_id)


def _health(row) -> Health:
    return Health(failures=row.failures or 0, quarantined=row.health == "quarantined",
                  checked_at=row.health_checked_s or 0.0, reason=row.health_reason,
                  since=row.quarantined_s)
