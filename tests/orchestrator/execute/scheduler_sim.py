"""An in-memory lab for the scheduler and the policies: queue, leases, device health and a fake
clock, driven the way the dispatcher drives the database. No I/O, so hypothesis can run
thousands of schedules."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from orchestrator.execute.policy import (FINAL_STATES, Health, HealthPolicy, RetryPolicy, after_expiry,
                                 after_run, check_due, health_after_check, health_after_run)
from orchestrator.execute.scheduler import DeviceState, Lease, QueuedJob, expired, renew, schedule


@dataclass
class SimJob:
    job: QueuedJob
    state: str = "queued"
    attempt: int = 0
    runs: list[str] = field(default_factory=list)  # status of each attempt that reported
    avoid: set[str] = field(default_factory=set)
    not_before: float = 0.0


class Lab:
    """The fleet and the queue, with a fake clock `now`."""

    def __init__(self, devices: list[DeviceState], ttl_s: float = 10.0,
                 retry: RetryPolicy = RetryPolicy(max_attempts=3, backoff_s=1.0),
                 health: HealthPolicy = HealthPolicy(quarantine_after=2, check_interval_s=5.0)):
        self.devices = {d.name: d for d in devices}
        self.health = {d.name: Health() for d in devices}
        self.jobs: dict[str, SimJob] = {}
        self.leases: dict[str, Lease] = {}  # by device
        self.now, self.ttl_s, self.retry, self.policy = 0.0, ttl_s, retry, health
        self.history: list[Lease] = []
        self.last_served: dict[str, float] = {}

    def add(self, *jobs: QueuedJob) -> None:
        for job in jobs:
            self.jobs[job.id] = SimJob(job)

    def queued(self) -> list[QueuedJob]:
        out = [replace(s.job, avoid=frozenset(s.avoid), not_before=s.not_before)
               for s in self.jobs.values() if s.state == "queued"]
        return sorted(out, key=lambda j: j.priority)  # stable: keeps enqueue order in a class

    def states(self) -> list[DeviceState]:
        return [replace(d, healthy=not self.health[n].quarantined) for n, d in self.devices.items()]

    def step(self) -> list[Lease]:
        """Expire stale leases, then schedule and take the new leases."""
        for lease in expired(list(self.leases.values()), self.now):
            self.expire(lease)
        new = schedule(self.queued(), self.states(), list(self.leases.values()), self.now,
                       self.ttl_s, self.last_served)
        for lease in new:
            assert lease.device not in self.leases, "device leased twice"
            sj = self.jobs[lease.job_id]
            assert sj.state == "queued", "a job that is not queued was scheduled"
            sj.state, sj.attempt = "leased", sj.attempt + 1
            self.leases[lease.device] = lease
            self.last_served[sj.job.study] = self.now
        self.history += new
        return new

    def heartbeat(self) -> None:
        self.leases = {d: renew(l, self.now, self.ttl_s) for d, l in self.leases.items()}

    def report(self, device: str, status: str, cancelled: bool = False) -> str:
        """The job on `device` ended with run status `status`; returns its next state."""
        lease = self.leases.pop(device)
        sj = self.jobs[lease.job_id]
        sj.runs.append(status)
        out = after_run(self.retry, status, sj.attempt, None, device, self.now, cancelled)
        self.health[device] = health_after_run(self.policy, self.health[device], status, self.now,
                                               cancelled=cancelled)
        if status != "infra-error":
            self.devices[device] = replace(self.devices[device], last_artifact=sj.job.artifact)
        return self._apply(sj, out)

    def expire(self, lease: Lease) -> None:
        del self.leases[lease.device]
        sj = self.jobs[lease.job_id]
        self._apply(sj, after_expiry(self.retry, sj.attempt, None, lease.device, self.now))

    def _apply(self, sj: SimJob, out) -> str:
        sj.state = out.state
        if out.state == "queued":
            sj.not_before = out.not_before
            if out.avoid:
                sj.avoid.add(out.avoid)
        return out.state

    def cancel(self, job_id: str) -> None:
        sj = self.jobs[job_id]
        if sj.state == "queued":
            sj.state = "cancelled"

    def health_checks(self, passes: bool) -> list[str]:
        """Run the due health checks; returns the devices checked."""
        due = [n for n, h in self.health.items() if check_due(self.policy, h, self.now)]
        for n in due:
            self.health[n] = health_after_check(self.health[n], passes, self.now, "check")
        return due

    def final(self) -> bool:
        return all(s.state in FINAL_STATES for s in self.jobs.values())
