"""What this board is: CPU, memory, OS, Python, and the engines importable here.

Reads /proc and /sys under a `root` argument so tests can point it at a fixture tree.
"""

from __future__ import annotations

import os
import platform
import socket
import sys
from pathlib import Path
from typing import Any

import agents


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def cpu_model(root: Path = Path("/")) -> str | None:
    """The CPU's model name from /proc/cpuinfo (x86 `model name`, ARM `Hardware`/`Model`)."""
    text = _read(root / "proc/cpuinfo") or ""
    for key in ("model name", "Hardware", "Model", "cpu model"):
        for line in text.splitlines():
            if line.split(":")[0].strip() == key and ":" in line:
                return line.split(":", 1)[1].strip()
    return platform.processor() or None


def physical_cores(root: Path = Path("/")) -> int:
    """Distinct (package, core) pairs in sysfs topology; logical CPUs when that is unreadable."""
    cpus = sorted((root / "sys/devices/system/cpu").glob("cpu[0-9]*"))
    pairs = set()
    for cpu in cpus:
        pkg = _read(cpu / "topology/physical_package_id")
        core = _read(cpu / "topology/core_id")
        if pkg is not None and core is not None:
            pairs.add((pkg, core))
    return len(pairs) or os.cpu_count() or 1


def memory_total_bytes(root: Path = Path("/")) -> int | None:
    """MemTotal from /proc/meminfo."""
    for line in (_read(root / "proc/meminfo") or "").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return None


def cpu_governor(root: Path = Path("/")) -> str | None:
    """The cpufreq governor of CPU 0 (None on boards and VMs without cpufreq)."""
    return _read(root / "sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")


def environment(root: Path = Path("/")) -> dict[str, Any]:
    """The facts recorded with every run."""
    uname = platform.uname()
    return {
        "agent_version": agents.__version__,
        "hostname": socket.gethostname(),
        "os": f"{uname.system} {_os_release(root)}".strip(),
        "kernel": uname.release,
        "arch": uname.machine,
        "python": sys.version.split()[0],
        "cpu_model": cpu_model(root),
        "cpu_logical": os.cpu_count(),
        "cpu_physical": physical_cores(root),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_governor": cpu_governor(root),
        "memory_total_bytes": memory_total_bytes(root),
    }


def _os_release(root: Path) -> str:
    for line in (_read(root / "etc/os-release") or "").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip('"')
    return ""


def engines() -> dict[str, dict[str, Any]]:
    """Each known engine: whether it imports here, its version, or why not."""
    from agents.engines import get_engine, known_engines
    from agents.errors import EngineUnavailable

    found: dict[str, dict[str, Any]] = {}
    for name in known_engines():
        try:
            found[name] = {"available": True, "version": get_engine(name).version()}
        except EngineUnavailable as e:
            found[name] = {"available": False, "reason": e.reason}
    return found
