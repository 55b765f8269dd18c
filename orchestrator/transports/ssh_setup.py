"""Preparing an SSH board: a virtual environment of its own under the device's `remote_dir`,
the agent's board requirements and the chosen engines' packages installed into it.

A board's system Python is usually not ours to change (Debian and Ubuntu refuse `pip install`
into it, JetPack's is shared with the OS), and it often has no `pip` or `venv` module either.
So the venv is made `--without-pip`, and pip itself arrives as a wheel. By default every wheel
is fetched on the orchestrator, for the board's own interpreter, platform and C library (so a
board with no route to a package index is prepared the same way), and shipped content-addressed
by SFTP; `source="board"` lets the board's pip reach its own index instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from agents.errors import UserError

# Prints what pip needs to pick wheels for the board: version, ABI, machine and C library.
# Written for every Python 3 the board may have, so that an old one is named, not crashed on.
_ASK = ("import json, platform, sys, sysconfig; "
        "print(json.dumps({'version': list(sys.version_info[:3]), 'executable': sys.executable, "
        "'machine': platform.machine(), 'libc': list(platform.libc_ver()), "
        "'soabi': sysconfig.get_config_var('SOABI') or ''}))")
MIN_PYTHON = (3, 8)
PIP_TIMEOUT_S = 3600.0

Exec = Callable[[str, float], "tuple[int, str, str]"]


@dataclass(frozen=True)
class BoardPython:
    """The board's base interpreter, as it describes itself."""

    path: str
    version: tuple[int, int, int]
    machine: str
    libc: tuple[str, str]

    @property
    def tag(self) -> str:
        """`cp311-aarch64-glibc2.36`: the key of the orchestrator's wheel folder for it."""
        return f"cp{self.version[0]}{self.version[1]}-{self.machine}-{''.join(self.libc) or 'nolibc'}"


def board_python(run: Exec, python: str, where: str) -> BoardPython:
    """Ask the board's interpreter what it is.

    Raises:
        UserError: it is missing or older than the agent supports (one line naming it).
    """
    import shlex
    code, out, err = run(f"{shlex.quote(python)} -c {shlex.quote(_ASK)}", 60.0)
    if code != 0:
        raise UserError(f"{where}: cannot run {python}: {' '.join((err or out).split()) or f'exit {code}'}")
    info = json.loads(out.strip().splitlines()[-1])
    bp = BoardPython(info["executable"] or python, tuple(info["version"]), info["machine"],
                     tuple(info["libc"]))
    if bp.version[:2] < MIN_PYTHON:
        raise UserError(f"{where}: {bp.path} is Python {'.'.join(map(str, bp.version))}; the agent "
                        f"needs >= {'.'.join(map(str, MIN_PYTHON))} (name another with `python:`)")
    return bp


def platform_tags(bp: BoardPython) -> list[str]:
    """The wheel platform tags the board accepts, newest C library first (what pip on the board
    would compute): manylinux_2_X for every glibc up to the board's, then the legacy aliases."""
    arch = bp.machine
    tags = []
    if bp.libc[0] == "glibc" and bp.libc[1]:
        major, minor = (int(x) for x in bp.libc[1].split(".")[:2])
        tags += [f"manylinux_{major}_{m}_{arch}" for m in range(minor, 16, -1)]
        tags += [f"manylinux2014_{arch}"] if minor >= 17 else []
    return tags + [f"linux_{arch}"]


def fetch_wheels(bp: BoardPython, requirements: list[str], cache: Path | None = None) -> Path:
    """Download binary wheels of `requirements` (and pip) for the board into a folder here.

    Returns:
        The folder (`<cache>/wheels/<tag>/`), reused between boards of the same kind.
    Raises:
        UserError: pip found no wheel for the board, with pip's own words.
    """
    cache = cache or Path(os.environ.get("BENCH_CACHE_DIR") or Path.home() / ".cache/benchlab")
    folder = cache / "wheels" / bp.tag
    folder.mkdir(parents=True, exist_ok=True)
    py = f"{bp.version[0]}.{bp.version[1]}"
    argv = [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:", "--dest", str(folder),
            "--python-version", py, "--implementation", "cp",
            *[a for tag in platform_tags(bp) for a in ("--platform", tag)], "pip", *requirements]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=PIP_TIMEOUT_S)
    if out.returncode != 0:
        lines = [ln for ln in out.stderr.splitlines() if ln.startswith("ERROR")] or out.stderr.splitlines()[-2:]
        raise UserError(f"no wheels for Python {py} on {bp.machine} ({''.join(bp.libc)}): "
                        f"{' '.join(' '.join(lines).split())}")
    return folder
