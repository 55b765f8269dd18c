"""The transport interface: how the orchestrator reaches the agent on a device."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Callable

from agents.spec import JobSpec, RunResult

Progress = Callable[[str, float, int], None]


class Transport(ABC):
    """Carries a JobSpec to `python -m agents run` on one device and brings the RunResult back.

    A failure of the transport itself (lost board, timeout, garbled reply) is returned as a
    RunResult with status `infra-error`, never raised, so that it is stored like any run.
    """

    @abstractmethod
    def health(self) -> str | None:
        """Check that the device answers.

        Returns:
            None when healthy, else the reason it is not.
        """

    @abstractmethod
    def probe(self) -> dict[str, Any]:
        """Run `python -m agents probe` on the device.

        Returns:
            The probe: {"environment": ..., "engines": {name: {"available": ...}}, ...}.
        Raises:
            InfraError: the device could not be reached or the probe failed.
        """

    @abstractmethod
    def put(self, local_path: Path) -> str:
        """Make a file (model, artifact) available on the device.

        Args:
            local_path: the file on the orchestrator's machine.
        Returns:
            The path under which the agent on the device finds it.
        """

    @abstractmethod
    def run(self, spec: JobSpec, on_progress: Progress | None = None) -> RunResult:
        """Run one job to completion.

        Args:
            spec: the job, with paths as returned by `put`.
            on_progress: called with (phase, fraction, iterations) as the agent reports them.
        Returns:
            The agent's RunResult, or an `infra-error` RunResult made here.
        """

    @abstractmethod
    def cancel(self, job_id: str) -> None:
        """Stop a running job; its `run` call returns an infra-error RunResult.

        Args:
            job_id: the job to stop (a no-op if it is not running).
        """
