"""A study: models x device selectors x engines x precisions x scenarios x batch sizes.

Read from a study YAML file (unknown keys refused by name, with file and line) or built from
`bench submit MODEL --devices ... --engines ...`. `orchestrator/expand.py` turns it into jobs.

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

from agents.spec import PRECISIONS, SCENARIOS, PowerSpec, RunLength
from inventory import fields as F
from inventory.yamlsrc import LMap, Where, load_yaml
from orchestrator.scheduler import PRIORITIES

SPREADS = ("each", "any")
_KEYS = ("name", "priority", "models", "devices", "spread", "engines", "precisions", "scenarios",
         "load", "batch_sizes", "threads", "options", "run", "power", "max_attempts")
_LOAD_KEYS = ("requests", "qps", "latency_bound_ms", "find_peak", "until_stable_pct", "seed")
_RUN_KEYS = ("warmup_s", "duration_s", "iterations", "max_duration_s", "target_ci_pct", "timeout_s")


@dataclass
class ModelEntry:
    """One model of a study, with its shapes and data files."""

    path: Path
    shapes: dict[str, list[int]] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    npz: str | None = None
    calibration: str | None = None


@dataclass
class StudyConfig:
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


def load_study(path: Path) -> StudyConfig:
    """Read a study YAML file.

    Raises:
        InventoryError: bad YAML, an unknown key or a bad value, with the file and line.
    """
    return study_from(F.mapping(load_yaml(path), Where(str(path), 1)), path)


def study_from(data: LMap, path: Path) -> StudyConfig:
    """A study from a parsed YAML mapping: a study file's, or the study keys of a suite file
    (orchestrator/nightly/suite.py). Paths are relative to `path`'s folder.

    Raises:
        InventoryError: an unknown key or a bad value, with the file and line.
    """
    where = Where(str(path), 1)
    F.check_keys(data, _KEYS, where, "a study")

    def w(key: str) -> Where:
        return where.at(data.line_of(key), field=key)

    config = StudyConfig(
        models=[_model(m, path.parent, w("models")) for m in _list(data.get("models"), w("models"))],
        devices=list(F.strings(data.get("devices"), w("devices"))),
        engines=list(F.strings(data.get("engines"), w("engines"))),
        precisions=list(F.strings(data.get("precisions", ["fp32"]), w("precisions"))),
        scenarios=list(F.strings(data.get("scenarios", ["single-stream"]), w("scenarios"))),
        batch_sizes=_ints(data.get("batch_sizes"), w("batch_sizes")),
        load=_load(data.get("load"), w("load")),
        spread=F.string(data.get("spread", "each"), w("spread")),
        priority=F.string(data.get("priority", "nightly"), w("priority")),
        threads=F.integer(data.get("threads"), w("threads"), 1),
        options=_options(data.get("options"), w("options")),
        length=_length(data.get("run"), w("run")),
        power=_power(data.get("power"), w("power")),
        max_attempts=F.integer(data.get("max_attempts", 3), w("max_attempts"), 1, optional=False),
        name=F.string(data.get("name"), w("name"), optional=True) or path.stem,
        source=str(path))
    config.check(where)
    return config


def _list(value: Any, where: Where) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _model(value: Any, base: Path, where: Where) -> ModelEntry:
    if not isinstance(value, LMap):
        return ModelEntry(path=base / F.string(value, where))
    where = where.at(value.line)
    F.check_keys(value, ("path", "shapes", "inputs", "files", "calibration"), where, "a model")
    shapes = F.mapping(value.get("shapes"), where.at(field="shapes"))
    files = F.mapping(value.get("files"), where.at(field="files"))
    npz = F.string(value.get("inputs"), where.at(field="inputs"), optional=True)
    calibration = F.string(value.get("calibration"), where.at(field="calibration"), optional=True)
    return ModelEntry(path=base / F.string(value.get("path"), where.at(field="path")),
                      shapes={k: list(_ints(v, where.at(shapes.line_of(k), field=f"shapes.{k}")) or [])
                              for k, v in shapes.items()},
                      files={k: str(base / F.string(v, where.at(field=f"files.{k}"))) for k, v in files.items()},
                      npz=str(base / npz) if npz else None,
                      calibration=str(base / calibration) if calibration else None)


def _ints(value: Any, where: Where) -> list[int] | None:
    if value is None:
        return None
    values = value if isinstance(value, list) else [value]
    return [F.integer(v, where, 0, optional=False) for v in values]


def _options(value: Any, where: Where) -> dict[str, dict[str, Any]]:
    data = F.mapping(value, where)
    return {engine: dict(F.mapping(opts, where.at(data.line_of(engine), field=engine)))
            for engine, opts in data.items()}


def _load(value: Any, where: Where) -> dict[str, Any]:
    data = F.mapping(value, where)
    F.check_keys(data, _LOAD_KEYS, where, "load")
    out: dict[str, Any] = {}
    for key, item in data.items():
        w = where.at(data.line_of(key), field=key)
        if key == "find_peak":
            if not isinstance(item, bool):
                raise w.error(f"expected true or false, got {item!r}")
            out[key] = item
        else:
            out[key] = F.integer(item, w, 0) if key in ("requests", "seed") else F.number(item, w)
    return out


def _length(value: Any, where: Where) -> RunLength:
    data = F.mapping(value, where)
    F.check_keys(data, _RUN_KEYS, where, "run")
    duration = F.number(data.get("duration_s", 5.0), where.at(field="duration_s"), optional=False)
    return RunLength(
        warmup_s=F.number(data.get("warmup_s", 1.0), where.at(field="warmup_s"), optional=False),
        min_duration_s=duration,
        min_iterations=F.integer(data.get("iterations", 100), where.at(field="iterations"), optional=False),
        max_duration_s=F.number(data.get("max_duration_s", max(60.0, 2 * duration)),
                                where.at(field="max_duration_s"), optional=False),
        target_ci_pct=F.number(data.get("target_ci_pct"), where.at(field="target_ci_pct"), 0),
        timeout_s=F.number(data.get("timeout_s"), where.at(field="timeout_s"), 1))


def _power(value: Any, where: Where) -> PowerSpec | None:
    if value is None:
        return None
    data = F.mapping(value, where)
    F.check_keys(data, ("sensor", "options", "idle_s", "rate_hz"), where, "power")
    return PowerSpec(sensor=F.string(data.get("sensor"), where.at(field="sensor")),
                     options=dict(F.mapping(data.get("options"), where.at(field="options"))),
                     idle_s=F.number(data.get("idle_s", 2.0), where.at(field="idle_s"), 0, optional=False),
                     rate_hz=F.number(data.get("rate_hz", 20.0), where.at(field="rate_hz"), 0.1, optional=False))
