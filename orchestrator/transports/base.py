"""The transport interface: how the orchestrator reaches the agent on a device."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from agents.errors import UserError
from agents.spec import JobSpec, RunResult

Progress = Callable[[str, float, int], None]


@dataclass(frozen=True)
class SetupOptions:
    """How `bench fleet setup` prepares a board.

    Args:
        source: "orchestrator" (wheels fetched here for the board's platform and shipped) or
            "board" (the board's pip downloads from its own index).
        system_site_packages: the venv also sees the system's packages (JetPack's TensorRT).
        fresh: remove an existing venv first.
    """

    source: str = "orchestrator"
    system_site_packages: bool = False
    fresh: bool = False

    def __post_init__(self) -> None:
        if self.source not in ("orchestrator", "board"):
            raise UserError(f"unknown setup source '{self.source}'; known: board, orchestrator")


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
    def setup(self, packages: list[str], options: SetupOptions | None = None) -> dict[str, Any]:
        """Prepare the device to run the agent: an interpreter with `packages` installed.

        Args:
            packages: pip requirements (the agent's board requirements and the engines').
            options: where the wheels come from, venv flags.
        Returns:
            The probe taken with the prepared interpreter, plus `python`: its path.
        Raises:
            UserError: the device cannot be prepared this way (one line saying why).
            InfraError: the device could not be reached, or an install step failed.
        """

    @abstractmethod
    def run(self, spec: JobSpec, on_progress: Progress | None = None) -> RunResult:
        """Run one job to completion.

        Args:
            spec: the job, with every path (model, companions, inputs, calibration) as it is
                on the orchestrator's machine. The transport alone makes those files
                available on the device (once, content-addressed) and rewrites the paths it
                hands to the agent; nothing on the orchestrator side ever sees a board path.
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
