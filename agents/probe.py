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
from agents import board


_read = board.read


def cpu_model(root: Path = Path("/")) -> str | None:
    """The CPU: ARM cores by name from their implementer and part codes ("4x Cortex-A55 + 4x
    Cortex-A76"), else /proc/cpuinfo's `model name` (x86), else `Hardware`."""
    arm = board.describe_cores(board.cores(root))
    if arm:
        return arm  # ARM kernels' `model name` says only "ARMv8 Processor rev 1 (v8l)"
    for key in ("model name", "Hardware", "cpu model"):
        for block in board.cpuinfo_blocks(root):
            if block.get(key):
                return block[key]
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
    """The facts recorded with every run (read under `root`, except what only the running
    interpreter can say: hostname, Python, CPU affinity)."""
    uname = platform.uname()
    by_cpu = board.cores(root)
    return {
        "agent_version": agents.__version__,
        "hostname": socket.gethostname(),
        "os": f"{uname.system} {_os_release(root)}".strip(),
        "kernel": _read(root / "proc/sys/kernel/osrelease") or uname.release,
        "arch": uname.machine,
        "python": sys.version.split()[0],
        "python_executable": sys.executable,
        "board_model": board.board_model(root),
        "jetson": board.jetson(root),
        "cpu_model": cpu_model(root),
        "cpu_logical": os.cpu_count(),
        "cpu_physical": physical_cores(root),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_governor": cpu_governor(root),
        "cpu_clusters": board.clusters(root, by_cpu),
        "memory_total_bytes": memory_total_bytes(root),
    }


def _os_release(root: Path) -> str:
    for line in (_read(root / "etc/os-release") or "").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip('"')
    return ""


def engines() -> dict[str, dict[str, Any]]:
    """Each known engine: whether it imports here, its version and precisions, or why not
    (each SDK is imported in a child process; see agents.sdkprobe)."""
    from agents.sdkprobe import survey

    return survey()["engines"]
