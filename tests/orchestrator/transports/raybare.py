"""A board as the Ray transport expects one: a Python environment with Ray, numpy, onnxruntime
and virtualenv and nothing of benchlab, and a Ray worker node started from it.

The environment is built once per Ray version and Python, under ~/.cache/benchlab/test-envs
(or $BENCH_TEST_ENVS), from the package index: into a temporary folder renamed into place, under
a lock, so that a half-built environment is never used and concurrent sessions build it once.
Its programs are always run as `python -m ...`: a venv's scripts name, in their `#!` line, the
folder the venv was built in, which the rename changed.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

# What a Ray board installs besides `ray==<the cluster's version>`: numpy and its engine, and
# virtualenv, which Ray's pip environments (a device's `pip:`, `setup`) are built with.
BOARD_PACKAGES = ("numpy", "onnxruntime", "virtualenv")
BUILD_TIMEOUT_S = 1200


def env_root() -> Path:
    """Where the test environments are kept between sessions."""
    return Path(os.environ.get("BENCH_TEST_ENVS") or Path.home() / ".cache/benchlab/test-envs")


def bare_python(ray_version: str) -> Path:
    """The interpreter of the bare environment for `ray_version`, built first if missing.

    Raises:
        RuntimeError: pip could not build it (with pip's output).
    """
    name = f"ray-bare-{ray_version}-py{sys.version_info[0]}{sys.version_info[1]}"
    final = env_root() / name
    packages = [f"ray=={ray_version}", *BOARD_PACKAGES]
    if not _complete(final, packages):
        env_root().mkdir(parents=True, exist_ok=True)
        with open(env_root() / f".{name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # another session may be building it right now
            if not _complete(final, packages):
                _build(final, packages)
    return final / "bin" / "python"


def _complete(folder: Path, packages: list[str]) -> bool:
    """Built to the end, and for these packages (the stamp is written last)."""
    try:
        return json.loads((folder / ".complete").read_text()) == packages
    except (OSError, ValueError):
        return False


def _build(final: Path, packages: list[str]) -> None:
    staging = final.with_name(f".{final.name}.{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    # Same interpreter as this session (the venv module uses the base one): Ray requires the
    # worker nodes to run the head's Python version.
    subprocess.run([sys.executable, "-m", "venv", str(staging)], check=True, env=clean_env())
    out = subprocess.run([str(staging / "bin/python"), "-m", "pip", "install", "--quiet", *packages],
                         capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, env=clean_env())
    if out.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise RuntimeError(f"pip install {' '.join(packages)} failed: {out.stderr[-3000:]}")
    (staging / ".complete").write_text(json.dumps(packages) + "\n")
    shutil.rmtree(final, ignore_errors=True)  # unfinished, or for other packages
    os.rename(staging, final)


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without anything that would let a child find benchlab or this venv."""
    drop = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "RAY_ADDRESS")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if not p.startswith(sys.prefix))
    return {**env, **extra}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BareNode:
    """`ray start --block` from the bare environment: a worker node carrying `resource`.

    Args:
        python: the bare environment's interpreter.
        address: the cluster's GCS address.
        resource: the custom resource it carries, one unit.
        root: its working directory and log (nowhere near the repository).
    """

    def __init__(self, python: Path, address: str, resource: str, root: Path):
        self.log = root / "ray-start.log"
        argv = [str(python), "-m", "ray.scripts.scripts", "start", "--block", f"--address={address}",
                f"--resources={json.dumps({resource: 1})}", "--num-cpus=1",
                f"--object-store-memory={150 * 2**20}", "--disable-usage-stats",
                f"--dashboard-agent-listen-port={_free_port()}", "--include-log-monitor=false"]
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(argv, cwd=root, env=clean_env(), stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    def stop(self) -> None:
        """End the node and every process it started (its own process group)."""
        for sig, wait_s in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.proc.wait(wait_s)
                return
            except subprocess.TimeoutExpired:
                continue

    def wait_joined(self, ray, resource: str, timeout_s: float = 120.0) -> None:
        """Wait until the cluster lists a live node with `resource`.

        Raises:
            RuntimeError: it did not join in time or `ray start` ended (with its log).
        """
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if any(n.get("Alive") and resource in n.get("Resources", {}) for n in ray.nodes()):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.5)
        raise RuntimeError(f"the bare node did not join: {self.log.read_text()[-3000:]}")
