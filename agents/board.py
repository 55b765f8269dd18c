"""Board facts that /proc and /sys give in vendor codes: ARM core names, the board's model,
the Jetson module and its L4T/JetPack release, CPU clusters with their clocks.

Every reader takes the filesystem `root`, so tests run them on fixture trees (and a board
under qemu-user emulation on the /proc/cpuinfo written for it). /proc/cpuinfo is parsed by
key, whatever the spacing around the colon ("CPU part\t: 0xd0b", "CPU architecture: 8").
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, List, Optional

# MIDR implementer -> (vendor, {part: core}), after Linux arch/arm64/include/asm/cputype.h and
# util-linux lscpu-arm.c (ARM 0xd80-0xd82 from later kernels).
_ARM = {
    0xc07: "Cortex-A7", 0xc08: "Cortex-A8", 0xc09: "Cortex-A9", 0xc0d: "Cortex-A17", 0xc0e: "Cortex-A17",
    0xc0f: "Cortex-A15", 0xd01: "Cortex-A32", 0xd03: "Cortex-A53", 0xd04: "Cortex-A35",
    0xd05: "Cortex-A55", 0xd06: "Cortex-A65", 0xd07: "Cortex-A57", 0xd08: "Cortex-A72",
    0xd09: "Cortex-A73", 0xd0a: "Cortex-A75", 0xd0b: "Cortex-A76", 0xd0c: "Neoverse-N1",
    0xd0d: "Cortex-A77", 0xd0e: "Cortex-A76AE", 0xd40: "Neoverse-V1", 0xd41: "Cortex-A78",
    0xd42: "Cortex-A78AE", 0xd44: "Cortex-X1", 0xd46: "Cortex-A510", 0xd47: "Cortex-A710",
    0xd48: "Cortex-X2", 0xd49: "Neoverse-N2", 0xd4b: "Cortex-A78C", 0xd4c: "Cortex-X1C",
    0xd4d: "Cortex-A715", 0xd4e: "Cortex-X3", 0xd4f: "Neoverse-V2", 0xd80: "Cortex-A520",
    0xd81: "Cortex-A720", 0xd82: "Cortex-X4",
}
IMPLEMENTERS: Dict[int, Any] = {
    0x41: ("ARM", _ARM),
    0x4E: ("NVIDIA", {0x000: "Denver", 0x003: "Denver 2", 0x004: "Carmel"}),
    0x51: ("Qualcomm", {0x800: "Kryo 2XX Gold", 0x801: "Kryo 2XX Silver", 0x802: "Kryo 3XX Gold",
                        0x803: "Kryo 3XX Silver", 0x804: "Kryo 4XX Gold", 0x805: "Kryo 4XX Silver",
                        0xc00: "Falkor", 0xc01: "Saphira"}),
    0x61: ("Apple", {0x022: "Icestorm (M1)", 0x023: "Firestorm (M1)", 0x024: "Icestorm (M1 Pro)",
                     0x025: "Firestorm (M1 Pro)", 0x028: "Icestorm (M1 Max)", 0x029: "Firestorm (M1 Max)",
                     0x032: "Blizzard (M2)", 0x033: "Avalanche (M2)"}),
}
# L4T release -> JetPack, from NVIDIA's release notes; other releases of a known major get "N.x".
JETPACK = {
    "R32.4.3": "4.4", "R32.4.4": "4.4.1", "R32.5.0": "4.5", "R32.5.1": "4.5.1", "R32.6.1": "4.6",
    "R32.7.1": "4.6.1", "R32.7.2": "4.6.2", "R32.7.3": "4.6.3", "R32.7.4": "4.6.4",
    "R32.7.5": "4.6.5", "R35.1.0": "5.0.2", "R35.2.1": "5.1", "R35.3.1": "5.1.1",
    "R35.4.1": "5.1.2", "R35.5.0": "5.1.3", "R35.6.0": "5.1.4", "R36.3.0": "6.0",
    "R36.4.0": "6.1", "R36.4.3": "6.2",
}
_JETPACK_MAJOR = {"R32": "4", "R34": "5", "R35": "5", "R36": "6"}
# Device-tree module part numbers -> Jetson module family.
_MODULES = {"p3701": "Jetson AGX Orin", "p3767": "Jetson Orin NX / Orin Nano", "p2888": "Jetson AGX Xavier",
            "p3668": "Jetson Xavier NX", "p3448": "Jetson Nano", "p3310": "Jetson TX2", "p3489": "Jetson TX2i",
            "p3636": "Jetson TX2 NX"}


def read(path: Path) -> Optional[str]:
    """The file's text, stripped (device-tree strings end in NUL), or None when unreadable."""
    try:
        return path.read_text(errors="replace").strip().strip("\x00").strip()
    except OSError:
        return None


def cpuinfo_blocks(root: Path) -> List[Dict[str, str]]:
    """/proc/cpuinfo as one dict per paragraph (a processor, or the trailing board lines)."""
    blocks: List[Dict[str, str]] = [{}]
    for line in (read(root / "proc/cpuinfo") or "").splitlines():
        if not line.strip():
            blocks.append({})
        elif ":" in line:
            key, _, value = line.partition(":")
            blocks[-1][" ".join(key.split())] = value.strip()
    return [b for b in blocks if b]


def core_name(implementer: str, part: str) -> Optional[str]:
    """'Cortex-A76' for ('0x41', '0xd0b'); '<vendor> part 0x..' for a part not in the table."""
    try:
        impl, number = int(implementer, 16), int(part, 16)
    except ValueError:
        return None
    vendor, parts = IMPLEMENTERS.get(impl, (f"implementer {implementer}", {}))
    return parts.get(number) or f"{vendor} part {part}"


def cores(root: Path) -> Dict[int, str]:
    """Logical CPU number -> core name, for CPUs whose cpuinfo gives an implementer and part."""
    out = {}
    for i, block in enumerate(b for b in cpuinfo_blocks(root) if "processor" in b):
        name = core_name(block.get("CPU implementer", ""), block.get("CPU part", ""))
        if name:
            out[_int(block["processor"], i)] = name
    return out


def describe_cores(by_cpu: Dict[int, str]) -> Optional[str]:
    """'4x Cortex-A55 + 4x Cortex-A76': each core type with its count, in CPU order."""
    counts: Dict[str, int] = {}
    for cpu in sorted(by_cpu):
        counts[by_cpu[cpu]] = counts.get(by_cpu[cpu], 0) + 1
    return " + ".join(f"{n}x {name}" for name, n in counts.items()) or None


def board_model(root: Path) -> Optional[str]:
    """The device tree's model (ARM boards), else DMI vendor and product (x86)."""
    model = read(root / "proc/device-tree/model")
    if model:
        return model
    dmi = [read(root / f"sys/class/dmi/id/{k}") for k in ("sys_vendor", "product_name")]
    return " ".join(d for d in dmi if d) or None


def jetson(root: Path) -> Optional[Dict[str, Any]]:
    """L4T release, JetPack where known, and module of a Jetson; None elsewhere."""
    text = read(root / "etc/nv_tegra_release")
    m = re.search(r"#\s*R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)", text or "")
    if not m:
        return None
    revision = m.group(2) if m.group(2).count(".") >= 1 else m.group(2) + ".0"
    l4t = f"R{m.group(1)}.{revision}"
    major = f"R{m.group(1)}"
    jetpack = JETPACK.get(l4t) or (_JETPACK_MAJOR[major] + ".x" if major in _JETPACK_MAJOR else None)
    return {"l4t": l4t, "jetpack": jetpack, "module": jetson_module(root)}


def jetson_module(root: Path) -> Optional[str]:
    """'Jetson AGX Orin (p3701-0005, tegra234)' from the device tree's compatible strings."""
    compatible = (read(root / "proc/device-tree/compatible") or "").split("\x00")
    # "nvidia,p3737-0000+p3701-0005" names carrier board + module; the module has its own entry.
    parts = [c.split(",", 1)[1] for c in compatible if c.startswith("nvidia,p") and "+" not in c]
    socs = [c.split(",", 1)[1] for c in compatible if c.startswith("nvidia,tegra")]
    if not parts and not socs:
        return None
    names = [_MODULES[p.split("-")[0]] for p in parts if p.split("-")[0] in _MODULES]
    detail = ", ".join(parts + socs)
    return f"{names[0]} ({detail})" if names else detail


def clusters(root: Path, by_cpu: Dict[int, str]) -> List[Dict[str, Any]]:
    """One entry per cpufreq policy: its CPUs, core name, governor, current and maximum clock.

    The kernel reports kHz; the figures here are MHz.
    """
    cpufreq = root / "sys/devices/system/cpu/cpufreq"
    out = []
    for policy in sorted(cpufreq.glob("policy*"), key=lambda p: _int(p.name[6:], 0)):
        cpus = [int(c) for c in (read(policy / "related_cpus") or read(policy / "affected_cpus") or "").split()
                if c.isdigit()]
        names = sorted({by_cpu[c] for c in cpus if c in by_cpu})
        out.append({"cpus": _ranges(cpus), "core": " + ".join(names) or None,
                    "governor": read(policy / "scaling_governor"),
                    "cur_freq_mhz": _mhz(read(policy / "scaling_cur_freq")),
                    "max_freq_mhz": _mhz(read(policy / "cpuinfo_max_freq")),
                    "scaling_max_freq_mhz": _mhz(read(policy / "scaling_max_freq"))})
    return out


def _mhz(khz: Optional[str]) -> Optional[float]:
    try:
        return round(int(khz or "") / 1000.0, 1)
    except ValueError:
        return None


def _ranges(cpus: List[int]) -> str:
    """'0-3,6' for [0, 1, 2, 3, 6]."""
    spans: List[List[int]] = []
    for c in sorted(cpus):
        if spans and c == spans[-1][1] + 1:
            spans[-1][1] = c
        else:
            spans.append([c, c])
    return ",".join(f"{a}-{b}" if a != b else str(a) for a, b in spans)


def _int(text: str, default: int) -> int:
    try:
        return int(text)
    except ValueError:
        return default
