"""Boards reached over SSH (paramiko): the agent travels as a zipapp, files by SFTP.

Host keys are checked against known_hosts and an unknown or changed key is refused, unless
the device explicitly trusts on first use. One connection per device is reused, with
keep-alives. Every remote command is built with `shlex.quote`, so device names, paths and
model file names may hold spaces, quotes or `$(...)`.
"""

from __future__ import annotations

import dataclasses
import functools
import posixpath
import shlex
import threading
from pathlib import Path
from typing import Any, Callable

from agents.errors import InfraError
from agents.inputs import calibration_files
from agents.runner import sha256_file
from agents.spec import JobSpec, RunResult
from orchestrator.transports.agentpkg import build_zipapp
from orchestrator.transports.base import Progress, SetupOptions, Transport
from orchestrator.transports.remote_job import RemoteJob, infra_result
from orchestrator.transports.ssh_setup import PIP_TIMEOUT_S, board_python, fetch_wheels


@dataclasses.dataclass(frozen=True)
class SshSettings:
    """How to reach one board.

    Args:
        host, port, user: where to connect.
        key: a private key file; None uses the ssh-agent (and no default key files).
        known_hosts: the file host keys are checked against (default ~/.ssh/known_hosts).
        trust_on_first_use: accept and record an unknown host key (never a changed one).
        python: the board's interpreter; by default the venv `bench fleet setup` made under
            remote_dir, else the system's python3.
        remote_dir: the agent's cache on the board (default ~/.cache/benchlab).
        connect_timeout_s, keepalive_s, job_timeout_s: the waits, all bounded.
    """

    host: str
    port: int = 22
    user: str | None = None
    key: str | None = None
    known_hosts: str | None = None
    trust_on_first_use: bool = False
    python: str | None = None
    remote_dir: str | None = None
    connect_timeout_s: float = 10.0
    keepalive_s: float = 15.0
    job_timeout_s: float = 3600.0


class SshTransport(Transport):
    """`python3 agent.pyz run -` on a board, over one reused SSH connection.

    Args:
        client_factory: builds the paramiko client (tests pass their own).
        **settings: the fields of `SshSettings`.
    """

    def __init__(self, client_factory: Callable[[], Any] | None = None, **settings: Any):
        self.settings = SshSettings(**settings)
        self._factory = client_factory
        self._client: Any = None
        self._home: str | None = None
        self._lock = threading.Lock()
        self._jobs: dict[str, RemoteJob] = {}
        # Files verified on the board over the current connection: remote path -> sha256.
        # Checked once per connection, not once per job (each check is a round trip).
        self._present: dict[str, str] = {}
        self._python: str | None = None  # the interpreter found over the current connection

    # -- connection ---------------------------------------------------------------------------
    def _connect(self) -> Any:
        with self._lock:
            if self._client is not None and self._client.get_transport() is not None \
                    and self._client.get_transport().is_active():
                return self._client
            self._client = _open_client(self.settings, self._factory)
            self._present.clear()
            self._python = None
            return self._client

    def _exec(self, command: str, timeout_s: float = 60.0) -> tuple[int, str, str]:
        client = self._connect()
        try:
            _, out, err = client.exec_command(command, timeout=timeout_s)
            text, etext = out.read().decode(), err.read().decode()
            return out.channel.recv_exit_status(), text, etext
        except Exception as e:  # paramiko raises socket errors and SSHException alike
            raise InfraError(f"{self._where()}: command failed: {e}") from e

    def _where(self) -> str:
        s = self.settings
        return f"ssh {s.user + '@' if s.user else ''}{s.host}:{s.port}"

    def _root(self) -> str:
        if self.settings.remote_dir:
            return self.settings.remote_dir
        if self._home is None:
            code, out, err = self._exec('printf %s "$HOME"')
            if code != 0 or not out.startswith("/"):
                raise InfraError(f"{self._where()}: cannot read $HOME: {err.strip()}")
            self._home = out
        return f"{self._home}/.cache/benchlab"

    def python(self) -> str:
        """The interpreter that runs the agent: the device's `python:`, else the venv that
        `bench fleet setup` made under remote_dir, else the system's python3."""
        if self.settings.python:
            return self.settings.python
        if self._python is None:
            venv = f"{self._root()}/venv/bin/python"
            code, _, _ = self._exec(f"test -x {shlex.quote(venv)}")
            self._python = venv if code == 0 else "python3"
        return self._python

    # -- Transport ----------------------------------------------------------------------------
    def health(self) -> str | None:
        try:
            code, out, err = self._exec("echo ok", timeout_s=self.settings.connect_timeout_s)
        except InfraError as e:
            return str(e)
        return None if code == 0 and out.strip() == "ok" else f"{self._where()}: {err.strip() or out}"

    def probe(self) -> dict[str, Any]:
        import json
        agent = self._agent()
        code, out, err = self._exec(f"{shlex.quote(self.python())} {shlex.quote(agent)} probe", 300)
        if code != 0:
            raise InfraError(f"{self._where()}: probe exited {code}: {_whole(err or out)}")
        try:
            return json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError) as e:
            raise InfraError(f"{self._where()}: probe printed no JSON") from e

    def upload(self, local_path: Path) -> str:
        """Copy one file into the board's content-addressed store (`files/<sha256>/<name>`),
        once: a file already there and intact is not sent again.

        Args:
            local_path: the file on the orchestrator's machine.
        Returns:
            Its path on the board (for the agent; never read on this side).
        """
        local_path = Path(local_path)
        sha = sha256_file(local_path)
        return self._put_file(local_path, f"{self._root()}/files/{sha}", sha)

    def run(self, spec: JobSpec, on_progress: Progress | None = None) -> RunResult:
        try:
            remote = self._remote_spec(spec)
            agent = self._agent()
        except InfraError as e:
            return infra_result(spec, str(e))
        job = RemoteJob(self._connect, self.python(), agent, self._root(),
                        timeout_s=spec.run.timeout_s or self.settings.job_timeout_s,
                        where=self._where())
        self._jobs[spec.job_id] = job
        try:
            result = job.run(remote, on_progress)
        finally:
            self._jobs.pop(spec.job_id, None)
        result.job = spec  # store the orchestrator's view of the paths, not the board's
        return result

    def setup(self, packages: list[str], options: SetupOptions | None = None) -> dict[str, Any]:
        options = options or SetupOptions()
        base = self.settings.python or "python3"
        bp = board_python(self._exec, base, self._where())
        venv = f"{self._root()}/venv"
        q = shlex.quote
        if options.fresh:
            self._run_ok(f"rm -rf -- {q(venv)}", "remove the old venv")
        flags = " --system-site-packages" if options.system_site_packages else ""
        self._run_ok(f"test -x {q(venv)}/bin/python || {q(bp.path)} -m venv --without-pip{flags} {q(venv)}",
                     "create the venv")
        py = f"{venv}/bin/python"
        shipped = options.source == "orchestrator"
        # pip itself always comes from here: a Debian or Ubuntu board has no ensurepip.
        folder = fetch_wheels(bp, packages if shipped else [])
        remote = f"{self._root()}/wheels/{bp.tag}"
        bootstrap = max(folder.glob("pip-*.whl"), key=lambda w: w.stat().st_mtime)
        for wheel in sorted(folder.glob("*.whl")) if shipped else [bootstrap]:
            self._put_file(wheel, remote, sha256_file(wheel))
        pip_wheel = q(f"{remote}/{bootstrap.name}")
        self._run_ok(f"{q(py)} -m pip --version >/dev/null 2>&1 || "
                     f"{q(py)} {pip_wheel}/pip install --no-index {pip_wheel}", "install pip")
        pip = f"{q(py)} -m pip install" + (f" --no-index --find-links {q(remote)}" if shipped else "")
        self._run_ok(f"{pip} --disable-pip-version-check {' '.join(map(q, packages))}", "pip install")
        self._python = None if self.settings.python else py
        return {**self.probe(), "python": self.python()}

    def _run_ok(self, command: str, what: str) -> str:
        code, out, err = self._exec(command, PIP_TIMEOUT_S)
        if code != 0:
            raise InfraError(f"{self._where()}: {what} failed (exit {code}): {_whole(err or out)}")
        return out

    def cancel(self, job_id: str) -> None:
        job = self._jobs.get(job_id)
        if job is not None:
            job.cancel()

    def close(self) -> None:
        """Close the connection (a later call reconnects)."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    # -- files --------------------------------------------------------------------------------
    def _agent(self) -> str:
        local = build_zipapp()
        return self._put_file(local, f"{self._root()}/agent", _sha_cached(local))

    def _put_file(self, local: Path, remote_dir: str, sha: str) -> str:
        remote = f"{remote_dir}/{local.name}"
        if self._present.get(remote) == sha:
            return remote
        code, out, _ = self._exec(f"sha256sum -- {shlex.quote(remote)} 2>/dev/null")
        if code == 0 and out.split()[:1] == [sha]:
            self._present[remote] = sha
            return remote  # already there and intact
        self._exec(f"mkdir -p -- {shlex.quote(remote_dir)}")
        partial = f"{remote}.part"
        try:
            sftp = self._connect().open_sftp()
            try:
                sftp.put(str(local), partial)
                code, out, _ = self._exec(f"sha256sum -- {shlex.quote(partial)}")
                if out.split()[:1] != [sha]:
                    raise InfraError(f"{self._where()}: {local.name} arrived corrupted (sha256 mismatch)")
                sftp.posix_rename(partial, remote)
                self._present[remote] = sha
            finally:
                sftp.close()
        except InfraError:
            raise
        except Exception as e:
            raise InfraError(f"{self._where()}: upload of {local.name} failed: {e}") from e
        return remote

    def _remote_spec(self, spec: JobSpec) -> JobSpec:
        remote = JobSpec.from_json(spec.to_json())
        remote.model.path = self._put_model(spec)
        remote.inputs.files = {k: self.upload(Path(v)) for k, v in spec.inputs.files.items()}
        if spec.inputs.npz:
            remote.inputs.npz = self.upload(Path(spec.inputs.npz))
        if spec.calibration.path:
            remote.calibration.path = self._put_calibration(Path(spec.calibration.path),
                                                            spec.calibration.sha256)
        remote.cache_dir = f"{self._root()}/artifacts"
        return remote

    def _put_model(self, spec: JobSpec) -> str:
        """The model and its companions (external data, .bin) in one folder named by the
        model's identity, at the same relative paths as on this machine."""
        local = Path(spec.model.path)
        if not spec.model.companions:
            return self.upload(local)
        folder = f"{self._root()}/files/{spec.model.sha256}"
        for name, sha in sorted(spec.model.companions.items()):
            sub = posixpath.dirname(name)
            self._put_file(local.parent / name, f"{folder}/{sub}" if sub else folder, sha)
        return self._put_file(local, folder, sha256_file(local))

    def _put_calibration(self, path: Path, sha: str | None) -> str:
        if path.is_file():
            return self.upload(path)
        folder = f"{self._root()}/files/{sha}/{path.name}"
        for f in calibration_files(path):
            self._put_file(f, folder, sha256_file(f))
        return folder


def _whole(text: str, limit: int = 8000) -> str:
    """A remote error on one line, whole up to `limit` characters and marked where cut."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else f"[{len(flat) - limit} characters cut] … {flat[-limit:]}"


@functools.lru_cache(maxsize=8)
def _sha_cached(path: Path) -> str:
    # The zipapp's name already carries its content hash: one sha256 per process is enough.
    return sha256_file(path)


def _open_client(s: SshSettings, factory: Callable[[], Any] | None) -> Any:
    import paramiko

    client = (factory or paramiko.SSHClient)()
    known = Path(s.known_hosts).expanduser() if s.known_hosts else Path.home() / ".ssh/known_hosts"
    if known.is_file():
        client.load_host_keys(str(known))
    client.set_missing_host_key_policy(
        paramiko.AutoAddPolicy() if s.trust_on_first_use else paramiko.RejectPolicy())
    where = f"{s.host}:{s.port}"
    try:
        client.connect(s.host, port=s.port, username=s.user, key_filename=s.key,
                       look_for_keys=False, allow_agent=s.key is None, timeout=s.connect_timeout_s,
                       banner_timeout=s.connect_timeout_s, auth_timeout=s.connect_timeout_s)
    except paramiko.BadHostKeyException as e:
        raise InfraError(f"ssh {where}: host key CHANGED ({e.key.get_name()}); refusing to connect. "
                         f"If the board was reinstalled, update {known}") from None
    except paramiko.SSHException as e:
        raise InfraError(f"ssh {where}: {e}") from None
    except OSError as e:
        raise InfraError(f"ssh {where}: cannot connect: {e}") from None
    if s.trust_on_first_use:
        known.parent.mkdir(parents=True, exist_ok=True)
        client.save_host_keys(str(known))
    client.get_transport().set_keepalive(int(s.keepalive_s))
    return client
