"""The scheduler: pure logic, no I/O. (queued jobs, devices, leases, now) -> new leases.

Rules, in the order they apply:

1. **Exclusive leases.** A device with a lease (expired or not: the caller requeues expired
   ones first, see `expired`) gets nothing; a pass gives each free device at most one job.
2. **Capability.** A job goes only to a healthy device of its pool whose last probe found the
   job's engine importable. An unprobed device (no engines known) gets nothing.
3. **Priority classes.** interactive (0) > nightly (1) > background (2) (plan/study.py): a free device always takes the
   best-class job it can run.
4. **Fairness within a class.** Studies of one class take turns (round-robin: each study's
   next job, then each study's second next ...); a round serves the study served least
   recently first (`last_served`), so a study submitted later neither waits for an earlier one
   to finish nor jumps it for long. Within a study, jobs keep their queue order (FIFO).
5. **Compile once.** Jobs that need the same compiled artifact (same model, engine, precision,
   options and shapes) stay on the device that built it: a free device whose last job built
   artifact K first takes the next queued K job pinned to it, if that job is of the best class
   waiting; a job that may run on several devices prefers one whose last artifact is its own,
   and devices holding an artifact still wanted are handed to other jobs last.
6. **Backoff and retry elsewhere.** A job waits until `not_before`; a job that failed on a
   device avoids it as long as another healthy capable device of its pool exists (waiting for
   it if it is busy), and goes back to it only when it is the pool's last such device.

Complexity: one linear pass to order the jobs (no comparison sort of the queue) plus one walk
per (pool, engine) over its devices, so a pass over 100,000 jobs and 10,000 devices is a few
hundred milliseconds (benchmarks/scheduler_throughput.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator, Mapping, Sequence

_NEVER = float("-inf")
_NO_CLASS = 1 << 30  # worse than every priority rank


@dataclass(frozen=True, slots=True)
class QueuedJob:
    """A job waiting in the queue.

    Args:
        id: the job id.
        study: its study (the unit of fairness).
        engine: the engine it needs on the device.
        pool: the devices it may run on. Share one frozenset object between the jobs of a pool.
        priority: 0 interactive, 1 nightly, 2 background.
        artifact: the compiled artifact it needs ("" when unknown).
        not_before: earliest time it may start (retry backoff), seconds on the caller's clock.
        avoid: devices where it already failed with an infra-error.
    """

    id: str
    study: str
    engine: str
    pool: frozenset[str]
    priority: int = 1
    artifact: str = ""
    not_before: float = 0.0
    avoid: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class DeviceState:
    """What the scheduler knows of a device.

    Args:
        name: the device name.
        engines: engines its last probe found available (empty: not probed yet).
        healthy: False while the device is quarantined.
        last_artifact: the artifact its last job built ("" when none).
    """

    name: str
    engines: frozenset[str]
    healthy: bool = True
    last_artifact: str = ""


@dataclass(frozen=True, slots=True)
class Lease:
    """An exclusive hold of `device` for `job_id` until `expires_at` (renewed by heartbeats)."""

    job_id: str
    device: str
    expires_at: float


def schedule(jobs: Sequence[QueuedJob], devices: Iterable[DeviceState], leases: Iterable[Lease],
             now: float, ttl_s: float = 60.0,
             last_served: Mapping[str, float] | None = None) -> list[Lease]:
    """Decide which queued jobs start now, and where.

    Args:
        jobs: the queued jobs in queue order (priority class, then enqueue order).
        devices: every device of the fleet.
        leases: the leases held now; their devices are busy.
        now: the current time on the caller's clock.
        ttl_s: lifetime of a new lease unless renewed.
        last_served: study -> when it last had a job started (absent: never).
    Returns:
        New leases, at most one per free device, none for a busy one.
    """
    busy = {lease.device for lease in leases}
    usable = {d.name: d for d in devices if d.healthy and d.engines}
    free = {name: d for name, d in usable.items() if name not in busy}
    if not free:
        return []
    p = _Pass(free, now + ttl_s, usable)
    ordered = list(p.fair_order(jobs, now, last_served or {}))
    p.sticky()
    p.greedy(ordered)
    return p.leases


def expired(leases: Iterable[Lease], now: float) -> list[Lease]:
    """The leases whose holder stopped heartbeating: their jobs go back to the queue."""
    return [lease for lease in leases if lease.expires_at <= now]


def renew(lease: Lease, now: float, ttl_s: float = 60.0) -> Lease:
    """The lease after a heartbeat at `now`."""
    return Lease(lease.job_id, lease.device, now + ttl_s)


class _Pass:
    """The working state of one scheduling pass."""

    def __init__(self, free: dict[str, DeviceState], expires_at: float,
                 usable: dict[str, DeviceState]):
        self.free, self.usable = free, usable
        self.expires_at = expires_at
        self.leases: list[Lease] = []
        self.assigned: set[str] = set()
        self.wanted: set[str] = set()  # artifacts some eligible job needs
        self.top = _NO_CLASS  # best class (lowest rank) among eligible jobs
        self._sticky_keys = {(d.last_artifact, d.name) for d in free.values() if d.last_artifact}
        self._by_artifact: dict[str, list[str]] = {}
        for d in free.values():
            if d.last_artifact:
                self._by_artifact.setdefault(d.last_artifact, []).append(d.name)
        self._pinned: dict[tuple[str, str], list[QueuedJob]] = {}
        self._lists: dict[tuple[frozenset[str], str], list] = {}
        self._sticky_lists: dict[tuple[frozenset[str], str, str], list[str]] = {}

    def fair_order(self, jobs: Sequence[QueuedJob], now: float,
                   last_served: Mapping[str, float]) -> Iterator[QueuedJob]:
        """Eligible jobs in the order they are served: class, round-robin turn (studies served
        least recently first), queue order."""
        rounds: dict[int, list[list[QueuedJob]]] = {}  # priority rank -> turn -> jobs
        turns: dict[int, dict[str, int]] = {}
        for job in jobs:
            if job.not_before > now:
                continue
            turn = turns.setdefault(job.priority, {})
            t = turn.get(job.study, 0)
            turn[job.study] = t + 1
            by_turn = rounds.setdefault(job.priority, [])
            if t == len(by_turn):
                by_turn.append([])
            by_turn[t].append(job)
            self._note(job)
        for by_turn, turn in ((rounds[p], turns[p]) for p in sorted(rounds)):
            rank = {study: (last_served.get(study, _NEVER), i) for i, study in enumerate(turn)}
            for bucket in by_turn:
                if last_served and len(bucket) > 1:
                    bucket.sort(key=lambda j: rank[j.study])
                yield from bucket

    def _note(self, job: QueuedJob) -> None:
        self.wanted.add(job.artifact)
        if job.priority < self.top:
            self.top = job.priority
        if len(job.pool) == 1 and job.artifact in self._by_artifact:
            key = (job.artifact, next(iter(job.pool)))
            if key in self._sticky_keys:
                self._pinned.setdefault(key, []).append(job)

    def sticky(self) -> None:
        """Give each free device the next best-class job pinned to it that reuses its artifact."""
        for name, device in list(self.free.items()):
            for job in self._pinned.get((device.last_artifact, name), ()):
                if job.priority == self.top and job.engine in device.engines:
                    self._take(job, name)
                    break

    def greedy(self, ordered: list[QueuedJob]) -> None:
        """Serve the jobs in order, each on the best free device it can use."""
        free, assigned = self.free, self.assigned
        for job in ordered:
            if not free:
                return
            if job.id in assigned:
                continue
            if len(job.pool) == 1:  # pinned: its device or nothing
                name = self._single(job)
            else:
                name = self._preferred(job) or self._from_list(job)
            if name is not None:
                self._take(job, name)

    def _take(self, job: QueuedJob, name: str) -> None:
        del self.free[name]
        self.assigned.add(job.id)
        self.leases.append(Lease(job.id, name, self.expires_at))

    def _single(self, job: QueuedJob) -> str | None:
        for name in job.pool:
            device = self.free.get(name)
            return name if device is not None and job.engine in device.engines else None
        return None

    def _preferred(self, job: QueuedJob) -> str | None:
        """A free device of the job's pool whose last artifact is the job's, if any."""
        if job.artifact not in self._by_artifact:
            return None
        key = (job.pool, job.engine, job.artifact)
        names = self._sticky_lists.get(key)
        if names is None:
            names = self._sticky_lists[key] = [
                n for n in self._by_artifact[job.artifact]
                if n in job.pool and n in self.free and job.engine in self.free[n].engines]
        while names and names[-1] not in self.free:
            names.pop()
        for name in reversed(names):
            if name in self.free and name not in job.avoid:
                return name
        return None

    def _from_list(self, job: QueuedJob) -> str | None:
        entry = self._lists.get((job.pool, job.engine))
        if entry is None:
            entry = self._lists[(job.pool, job.engine)] = [self._candidates(job), 0]
        names, i = entry
        while i < len(names) and names[i] not in self.free:
            i += 1
        entry[1] = i
        if i == len(names):
            return None
        if job.avoid:
            for name in names[i:]:
                if name in self.free and name not in job.avoid:
                    return name
            if self._elsewhere(job):
                return None  # wait for the other device rather than retry where it failed
        return names[i]

    def _elsewhere(self, job: QueuedJob) -> bool:
        """Whether the job's pool has a healthy capable device it has not failed on."""
        return any(n not in job.avoid and n in self.usable and job.engine in self.usable[n].engines
                   for n in job.pool)

    def _candidates(self, job: QueuedJob) -> list[str]:
        # Devices holding an artifact that another job still wants go last: they stay free
        # for that job as long as another device can take this one.
        names = [n for n in job.pool if n in self.free and job.engine in self.free[n].engines]
        wanted = self.wanted - {""}
        return sorted(names, key=lambda n: (self.free[n].last_artifact in wanted, n))
