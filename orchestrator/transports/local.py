"""Run the agent as a child process on this machine.

A child process per job, not a call in this process: a crashing engine cannot take the
orchestrator down, and one engine's idle thread pool (ONNX Runtime spins) cannot disturb the
next engine's measurement.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Sequence

from agents.errors import InfraError, UserError
from agents.spec import JobSpec, RunResult
from orchestrator.transports.base import Progress, SetupOptions, Transport

_STDERR_TAIL = 4000


# Started in the child before the agent: pin it to its CPUs and, when asked, have the kernel
# kill it if the orchestrator thread that started it dies (PR_SET_PDEATHSIG), so a killed
# orchestrator leaves no benchmark running on a device it no longer holds. Then exec the agent.
_LAUNCH = """import os, sys
cpus, parent, argv = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
if cpus:
    os.sched_setaffinity(0, {int(c) for c in cpus.split(",")})
if parent:
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, 9)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:
        sys.exit("orchestrator gone before the agent started")
os.execv(sys.executable, [sys.executable] + argv)
"""


class LocalTransport(Transport):
    """The local machine as a device: `python -m agents run -` in a child process.

    Args:
        python: the interpreter that runs the agent.
        default_timeout_s: per-job limit when the JobSpec sets none.
        env: extra environment for the agent process.
        cpus: CPU numbers the agent is pinned to (several local devices on one machine).
        die_with_parent: the agent is killed when the orchestrator dies (Linux), so a
            restarted orchestrator never finds an orphan benchmark still running.
    """

    def __init__(self, python: str = sys.executable, default_timeout_s: float = 3600.0,
                 env: dict[str, str] | None = None, cpus: Sequence[int] | None = None,
                 die_with_parent: bool = False):
        self.python = python
        self.default_timeout_s = default_timeout_s
        self.env = env or {}
        self.cpus = tuple(cpus) if cpus else None
        self.die_with_parent = die_with_parent
        self._procs: dict[str, subprocess.Popen] = {}

    def health(self) -> str | None:
        return None if os.access(self.python, os.X_OK) else f"{self.python} is not executable"

    def probe(self) -> dict[str, Any]:
        try:
            out = subprocess.run(self._argv(["probe"]), capture_output=True, text=True,
                                 timeout=120, env=_child_env(self.env))
        except (OSError, subprocess.TimeoutExpired) as e:
            raise InfraError(f"local probe failed: {e}") from e
        if out.returncode != 0:
            raise InfraError(f"local probe exited {out.returncode}: {' '.join(out.stderr.split())}")
        try:
            return json.loads(out.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError) as e:
            raise InfraError(f"local probe printed no JSON: {out.stdout[-200:]!r}") from e

    def setup(self, packages: list[str], options: SetupOptions | None = None) -> dict[str, Any]:
        # This machine's own interpreter is the user's to manage: install only into a venv.
        ask = "import sys; print(int(sys.prefix != sys.base_prefix))"
        try:
            in_venv = subprocess.run([self.python, "-c", ask], capture_output=True, text=True,
                                     timeout=60).stdout.strip() == "1"
        except OSError as e:
            raise InfraError(f"local: cannot run {self.python}: {e}") from e
        if not in_venv:
            raise UserError(f"local: {self.python} is not a virtual environment; install the packages "
                            f"yourself ({self.python} -m pip install {' '.join(packages)}) or name a "
                            f"venv's interpreter with `python:`")
        out = subprocess.run([self.python, "-m", "pip", "install", "--quiet", *packages],
                             capture_output=True, text=True, timeout=3600)
        if out.returncode != 0:
            raise InfraError(f"local: pip install failed: {' '.join(out.stderr.split())}")
        return {**self.probe(), "python": self.python}

    def _argv(self, agent_args: list[str]) -> list[str]:
        argv = ["-m", "agents", *agent_args]
        if not self.cpus and not self.die_with_parent:
            return [self.python, *argv]
        cpus = ",".join(map(str, self.cpus or ()))
        parent = str(os.getpid()) if self.die_with_parent else "0"
        return [self.python, "-c", _LAUNCH, cpus, parent, *argv]

    def run(self, spec: JobSpec, on_progress: Progress | None = None) -> RunResult:
        try:
            proc = subprocess.Popen(self._argv(["run", "-", "--progress"]),
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True, start_new_session=True,
                                    env=_child_env(self.env))
        except OSError as e:
            return _infra(spec, f"cannot start the local agent with {self.python}: {e}", [])
        self._procs[spec.job_id] = proc
        # One reader per pipe, each the pipe's only reader: sharing a pipe between a thread
        # and communicate() lets one steal data the other was told was ready, and hang.
        stdout: list[str] = []
        stderr: list[str] = []
        readers = [threading.Thread(target=lambda: stdout.append(proc.stdout.read()), daemon=True),
                   threading.Thread(target=_read_progress, args=(proc, on_progress, stderr), daemon=True)]
        for reader in readers:
            reader.start()
        timeout = spec.run.timeout_s or self.default_timeout_s
        try:
            _send(proc, spec.to_json())
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill(proc)
            proc.wait()
            return _infra(spec, f"local agent timed out after {timeout:g} s", stderr)
        finally:
            self._procs.pop(spec.job_id, None)
            for reader in readers:
                reader.join(10)
        return _parse(spec, proc.returncode, "".join(stdout), stderr)

    def cancel(self, job_id: str) -> None:
        proc = self._procs.get(job_id)
        if proc is not None:
            _kill(proc)


def _child_env(extra: dict[str, str]) -> dict[str, str]:
    # The agent package must import in the child even when benchlab is not installed.
    root = str(Path(__file__).resolve().parents[2])
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, **extra}


def _read_progress(proc: subprocess.Popen, on_progress: Progress | None, stderr: list[str]) -> None:
    for line in proc.stderr:
        try:
            msg = json.loads(line)
            if on_progress and "progress" in msg:
                on_progress(msg["progress"], float(msg["fraction"]), int(msg["iterations"]))
                continue
        except (ValueError, TypeError, KeyError):
            pass
        stderr.append(line)


def _send(proc: subprocess.Popen, text: str) -> None:
    try:
        proc.stdin.write(text)
        proc.stdin.close()
    except BrokenPipeError:
        pass  # the agent died at start; its exit code and stderr tell why


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _parse(spec: JobSpec, returncode: int, out: str, stderr: list[str]) -> RunResult:
    lines = [ln for ln in out.splitlines() if ln.strip()]
    if returncode == 0 and lines:
        try:
            return RunResult.from_json(lines[-1])
        except ValueError as e:
            return _infra(spec, f"agent printed an unreadable RunResult: {e}", stderr)
    how = f"signal {-returncode}" if returncode < 0 else f"exit code {returncode}"
    return _infra(spec, f"local agent died ({how})", stderr)


def _infra(spec: JobSpec, message: str, stderr: list[str]) -> RunResult:
    tail = "".join(stderr)[-_STDERR_TAIL:]
    return RunResult(job_id=spec.job_id, attempt=spec.attempt, status="infra-error", job=spec,
                     error=message, error_type="TransportError", traceback=tail or None)
