"""The emulated aarch64 board: its own Debian root filesystem, its own sshd on a loopback port.

`tests/rig/build_board.sh` (`make board`) builds the root once under ~/.cache/benchlab/boards/.
Here it is started the way a board boots: in its own mount and PID namespaces (`unshare`), with
its own /proc (a Cortex-A76 /proc/cpuinfo bound over it: qemu-user shows the host's otherwise),
chrooted, so the board sees its own disk and Python and nothing of the orchestrator's files.
Every process of a session runs as aarch64 under qemu-user (binfmt_misc), QEMU_CPU=cortex-a76.
Killing the namespace's first process ends every process on the board, as a power cut would.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

BOARD_DIR = Path(os.environ.get("BENCH_BOARD_DIR") or Path.home() / ".cache/benchlab/boards/debian-arm64")
BUILD = Path(__file__).with_name("build_board.sh")
USER, UID = "bench", 1000

# A Cortex-A76 (as on a Raspberry Pi 5 or the big cores of an RK3588), one entry per host CPU so
# that the core count the agent reads from sysconf agrees with /proc/cpuinfo.
_CPU = """processor\t: {n}
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x4
CPU part\t: 0xd0b
CPU revision\t: 1
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def usable() -> str | None:
    """None when this machine can run the board, else why not."""
    if os.geteuid() != 0:
        return "the emulated board needs root (chroot, namespaces, binfmt_misc)"
    if not (BOARD_DIR / ".benchlab-board").is_file():
        return f"no board root at {BOARD_DIR} (make board builds it)"
    if not Path("/proc/sys/fs/binfmt_misc/qemu-aarch64").is_file():
        return "qemu-aarch64 is not registered with binfmt_misc (make board does it)"
    return None


class Board:
    """A running emulated board: where its sshd listens, the key it accepts, its known_hosts.

    Args:
        work: a folder of the test's own for the client key, known_hosts and the sshd log.
        fresh_home: wipe the board user's caches first (the venv, the agent, every file).
    """

    def __init__(self, work: Path, fresh_home: bool = False):
        self.root, self.work, self.port = BOARD_DIR, work, _free_port()
        self.home = self.root / "home" / USER
        if fresh_home:
            shutil.rmtree(self.home / ".cache", ignore_errors=True)
        self.client_key = work / "board_key"
        self._authorize()
        self.cpuinfo = work / "cpuinfo"
        self.cpuinfo.write_text("\n".join(_CPU.format(n=n) for n in range(os.cpu_count() or 1)))
        host_pub = (self.root / "etc/ssh/ssh_host_ed25519_key.pub").read_text().split()[:2]
        self.known_hosts = work / "board_known_hosts"
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {' '.join(host_pub)}\n")
        self.log = work / "board-sshd.log"
        self.start()

    def start(self) -> None:
        """Boot the board (again), on the same port: the inventory entry stays true."""
        self.proc = self._boot()
        self._wait()

    def _authorize(self) -> None:
        if not self.client_key.exists():
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.client_key)], check=True)
        ssh = self.home / ".ssh"
        ssh.mkdir(mode=0o700, exist_ok=True)
        (ssh / "authorized_keys").write_text(self.client_key.with_suffix(".pub").read_text())
        for path in (self.home, ssh, ssh / "authorized_keys"):
            os.chown(path, UID, UID)

    def _boot(self) -> subprocess.Popen:
        r = str(self.root)
        # The board trusts the CAs this machine trusts (this network's TLS proxy among them), as
        # a lab's boards trust the lab's: `bench fleet setup --source board` reaches the index.
        cas = "/etc/ssl/certs/ca-certificates.crt"
        script = (f"mount -t proc proc {r}/proc && mount --bind {self.cpuinfo} {r}/proc/cpuinfo && "
                  f"{{ ! test -f {cas} || mount --bind {cas} {r}{cas}; }} && "
                  f"mount -t tmpfs tmpfs {r}/run && mkdir -p {r}/run/sshd && "
                  f"mount -t tmpfs tmpfs {r}/tmp && chmod 1777 {r}/tmp && "
                  f"exec chroot {r} /usr/bin/env -i QEMU_CPU=cortex-a76 /usr/sbin/sshd -D -e "
                  f"-p {self.port} -o ListenAddress=127.0.0.1 -o StrictModes=no")
        return subprocess.Popen(["unshare", "--mount", "--propagation", "private", "--pid", "--fork",
                                 "--kill-child", "sh", "-c", script],
                                stdout=subprocess.DEVNULL, stderr=open(self.log, "a"),
                                start_new_session=True)

    def _wait(self) -> None:
        deadline = time.monotonic() + 60  # sshd starts under emulation: seconds, not ms
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                    if s.recv(4).startswith(b"SSH-"):
                        return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the board's sshd did not start: {self.log.read_text()[-2000:]}")

    def settings(self, **extra) -> dict:
        """SSH transport settings that reach the board (as the inventory would give them)."""
        return {"host": "127.0.0.1", "port": self.port, "user": USER, "key": str(self.client_key),
                "known_hosts": str(self.known_hosts), "connect_timeout_s": 30.0, **extra}

    def inventory_entry(self, name: str) -> dict:
        """The board as a device of an inventory file."""
        s = self.settings()
        return {"name": name, "transport": "ssh", "host": s["host"], "port": s["port"], "user": USER,
                "key": s["key"], "known_hosts": s["known_hosts"], "tags": ["board", "arm"],
                "arch": "aarch64"}

    def run(self, command: str, timeout_s: float = 120.0) -> subprocess.CompletedProcess:
        """Run a command on the board as its user, over SSH (what a person at the board would)."""
        return subprocess.run(["ssh", "-p", str(self.port), "-i", str(self.client_key),
                               "-o", f"UserKnownHostsFile={self.known_hosts}", "-o", "BatchMode=yes",
                               f"{USER}@127.0.0.1", command],
                              capture_output=True, text=True, timeout=timeout_s)

    def stop(self) -> None:
        """Power the board off: every process in its namespace dies with the first one."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)
