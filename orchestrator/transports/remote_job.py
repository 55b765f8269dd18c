"""One agent run over an SSH channel: JobSpec on stdin, progress on stderr, RunResult on stdout.

The remote shell prints its PID and then execs the agent, so the agent leads its own process
group (sshd makes each session's shell a group leader) and cancel kills the whole group. Every
wait is bounded: the job's timeout, and a dropped connection ends the wait at once.
"""

from __future__ import annotations

import json
import shlex
import time
from typing import Any, Callable

from agents.spec import JobSpec, RunResult
from orchestrator.transports.base import Progress

_STDERR_TAIL = 4000
_POLL_S = 0.005


def infra_result(spec: JobSpec, message: str, stderr: str | None = None) -> RunResult:
    """A RunResult for a failure of the transport itself."""
    return RunResult(job_id=spec.job_id, attempt=spec.attempt, status="infra-error", job=spec,
                     error=message, error_type="TransportError", traceback=stderr or None)


class RemoteJob:
    """Runs `python agent.pyz run - --progress` on the board and reads it back.

    Args:
        connect: returns the connected paramiko client.
        python, agent, root: the board's interpreter, agent archive and working directory.
        timeout_s: the job's limit.
        where: the board, for messages.
    """

    def __init__(self, connect: Callable[[], Any], python: str, agent: str, root: str,
                 timeout_s: float, where: str):
        self._connect, self._python, self._agent, self._root = connect, python, agent, root
        self._timeout_s, self._where = timeout_s, where
        self._pgid: int | None = None
        self._cancelled = False

    def run(self, spec: JobSpec, on_progress: Progress | None) -> RunResult:
        """Run and return the agent's RunResult, or an infra-error RunResult made here."""
        command = (f"cd {shlex.quote(self._root)} && echo $$ && exec {shlex.quote(self._python)} "
                   f"{shlex.quote(self._agent)} run - --progress")
        try:
            channel = self._connect().get_transport().open_session()
            channel.exec_command(command)
            channel.sendall(spec.to_json().encode())
            channel.shutdown_write()
        except Exception as e:
            return infra_result(spec, f"{self._where}: cannot start the agent: {e}")
        out, err, problem = self._pump(channel, on_progress)
        if self._cancelled:
            problem = "cancelled"
        if problem:
            self.cancel()
            return infra_result(spec, f"{self._where}: {problem}", err[-_STDERR_TAIL:])
        return self._parse(spec, channel.recv_exit_status(), out, err)

    def _pump(self, channel: Any, on_progress: Progress | None) -> tuple[str, str, str | None]:
        out, err, pending = b"", "", b""
        deadline = time.monotonic() + self._timeout_s
        while True:
            busy = False
            if channel.recv_ready():
                out += channel.recv(1 << 16)
                busy = True
                self._note_pid(out)
            if channel.recv_stderr_ready():
                pending += channel.recv_stderr(1 << 16)
                *lines, pending = pending.split(b"\n")
                err += _progress(lines, on_progress)
                busy = True
            if not channel.get_transport().is_active():
                return out.decode(errors="replace"), err, "connection lost during the job"
            if channel.exit_status_ready() and not channel.recv_ready() and not channel.recv_stderr_ready():
                return out.decode(errors="replace"), err + pending.decode(errors="replace"), None
            if self._cancelled:
                return out.decode(errors="replace"), err, "cancelled"
            if time.monotonic() > deadline:
                return out.decode(errors="replace"), err, f"timed out after {self._timeout_s:g} s"
            if not busy:
                time.sleep(_POLL_S)

    def _note_pid(self, out: bytes) -> None:
        if self._pgid is None and b"\n" in out:
            first = out.split(b"\n", 1)[0].strip()
            self._pgid = int(first) if first.isdigit() else None

    def _parse(self, spec: JobSpec, code: int, out: str, err: str) -> RunResult:
        lines = [ln for ln in out.splitlines()[1:] if ln.strip()]
        if code == 0 and lines:
            try:
                return RunResult.from_json(lines[-1])
            except ValueError as e:
                return infra_result(spec, f"{self._where}: unreadable RunResult: {e}", err[-_STDERR_TAIL:])
        how = f"exit code {code}" if code >= 0 else "no exit status (killed)"
        return infra_result(spec, f"{self._where}: agent died ({how})", err[-_STDERR_TAIL:])

    def cancel(self) -> None:
        """Kill the agent's process group on the board (best effort: the board may be gone)."""
        self._cancelled = True
        if self._pgid is None:
            return
        try:
            self._connect().exec_command(f"kill -KILL -- -{int(self._pgid)}", timeout=10)
        except Exception:
            pass  # connection gone: sshd hangs up the session, which ends the agent too


def _progress(lines: list[bytes], on_progress: Progress | None) -> str:
    kept = []
    for raw in lines:
        line = raw.decode(errors="replace")
        try:
            msg = json.loads(line)
            if isinstance(msg, dict) and "progress" in msg:
                if on_progress:
                    on_progress(msg["progress"], float(msg["fraction"]), int(msg["iterations"]))
                continue
        except ValueError:
            pass
        kept.append(line + "\n")
    return "".join(kept)
