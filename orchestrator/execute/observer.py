"""Who watches the jobs a worker runs: `Observer` (bench run's per-job progress lines) and
`Collect`, which keeps every finished RunResult."""

from __future__ import annotations

from typing import Callable, Protocol

from agents.spec import JobSpec, RunResult
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
