"""A real OpenSSH server on 127.0.0.1 with its own host key, client key and config.

Used by the transport tests (a fixture per module) and by benchmarks/transport_overhead.py.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path.with_suffix(".pub").read_text().strip()


class Sshd:
    """A running sshd: where it listens, the client key it accepts, a known_hosts for it."""

    def __init__(self, root: Path):
        self.root, self.port = root, _free_port()
        host_pub = _keygen(root / "host_key")
        self.client_key = root / "client_key"
        (root / "authorized_keys").write_text(_keygen(self.client_key) + "\n")
        self.known_hosts = root / "known_hosts"
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {' '.join(host_pub.split()[:2])}\n")
        (root / "sshd_config").write_text("\n".join([
            f"Port {self.port}", "ListenAddress 127.0.0.1", f"HostKey {root / 'host_key'}",
            f"AuthorizedKeysFile {root / 'authorized_keys'}", "PasswordAuthentication no",
            "KbdInteractiveAuthentication no", "PubkeyAuthentication yes", "UsePAM no",
            "StrictModes no", "PermitRootLogin yes", f"PidFile {root / 'sshd.pid'}",
            "Subsystem sftp internal-sftp", "MaxSessions 50", "MaxStartups 50", ""]))
        Path("/run/sshd").mkdir(exist_ok=True)  # privilege separation directory
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(root / "sshd_config")],
                                     stderr=open(root / "sshd.log", "w"))
        self._wait()

    def _wait(self) -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"sshd did not start: {(self.root / 'sshd.log').read_text()}")

    def settings(self, **extra) -> dict:
        """Transport settings that reach this server."""
        return {"host": "127.0.0.1", "port": self.port, "user": "root", "key": str(self.client_key),
                "known_hosts": str(self.known_hosts), **extra}

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(10)


