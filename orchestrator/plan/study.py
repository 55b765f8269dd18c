"""A study: models x device selectors x engines x precisions x scenarios x batch sizes.

Read from a study YAML file (plan/studyfile.py: unknown keys refused by name, with file and
line), built from `bench run`/`bench submit` flags (plan/knobs.py) or from an API body (the
server). plan/expand.py turns it into jobs. The keys of a study file:

    name: chip-selection            # optional
    priority: nightly               # interactive | nightly | background
    models:                         # paths relative to this file; a plain string is a path
      - path: resnet.onnx
        shapes: {input: [1, 3, 224, 224]}   # dynamic dims (batch sizes set dim 0)
        inputs: real.npz            # optional real data; `files: {name: x.npy}` per input
        calibration: calib.npz      # optional int8 calibration data
    devices: [tag:cpu, name:jetson-01]      # selectors (see inventory/selectors.py)
    spread: each                    # each: one job per matching device; any: one per selector
    engines: [onnxruntime, openvino]
    precisions: [fp32]
    scenarios: [single-stream]      # single-stream, offline, server
    load: {requests: 8, qps: 200, latency_bound_ms: 10}   # offline/server settings (optional)
    batch_sizes: [1]                # omit to keep the model's own batch
    threads: 1
    options: {onnxruntime: {spinning: false}}
    run: {warmup_s: 1, duration_s: 5, iterations: 100, max_duration_s: 60, target_ci_pct: 2,
          timeout_s: 600}
    power: {sensor: rapl}           # default: each device's sensor from the inventory
    max_attempts: 3                 # infra-error retries in all
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.errors import UserError
from agents.spec import PRECISIONS, SCENARIOS, PowerSpec, RunLength
from inventory.yamlsrc import Where

SPREADS = ("each", "any")
PRIORITIES = ("interactive", "nightly", "background")


def priority_rank(name: str) -> int:
    """0 for interactive, 1 for nightly, 2 for background (the queue stores the rank).

    Raises:
        UserError: an unknown class, with the known ones.
    """
    if name not in PRIORITIES:
        raise UserError(f"unknown priority '{name}'; known: {', '.join(PRIORITIES)}")
    return PRIORITIES.index(name)


@dataclass
class ModelEntry:
    """One model of a study, with its shapes and data files."""

    path: Path
    shapes: dict[str, list[int]] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    npz: str | None = None
    calibration: str | None = None


@dataclass
class Study:
    """Everything a study asks for; validated field by field when it is read."""

    models: list[ModelEntry]
    devices: list[str]
    engines: list[str]
    precisions: list[str] = field(default_factory=lambda: ["fp32"])
    scenarios: list[str] = field(default_factory=lambda: ["single-stream"])
    batch_sizes: list[int] | None = None
    load: dict[str, Any] = field(default_factory=dict)
    spread: str = "each"
    priority: str = "interactive"
    threads: int | None = None
    options: dict[str, dict[str, Any]] = field(default_factory=dict)
    length: RunLength = field(default_factory=RunLength)
    power: PowerSpec | None = None
    max_attempts: int = 3
    name: str | None = None
    source: str = "bench submit"
    strict: bool = False  # int8 without calibration data is refused, not calibrated on noise
    max_accuracy_drop: float | None = None  # a variant losing more is flagged accuracy-failed
    accuracy_check: bool = True
    cache_dir: str | None = None  # the agent's artifact cache (None: its default)

    def check(self, where: Where) -> None:
        """Check the values that do not need the model or the fleet.

        Raises:
            InventoryError: naming the field.
        """
        for name, values, known in (("precisions", self.precisions, PRECISIONS),
                                    ("scenarios", self.scenarios, SCENARIOS),
                                    ("priority", [self.priority], PRIORITIES),
                                    ("spread", [self.spread], SPREADS)):
            for value in values:
                if value not in known:
                    raise where.at(field=name).error(f"unknown value '{value}'; known: {', '.join(known)}")
        for name, values in (("models", self.models), ("devices", self.devices), ("engines", self.engines)):
            if not values:
                raise where.at(field=name).error("needs at least one entry")
