"""A study YAML file (or the study keys of a suite file) -> `Study`, every key checked with
its file and line; the run length through `knobs.run_length`, the one timeout rule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agents.spec import PowerSpec, RunLength
from inventory import fields as F
from inventory.yamlsrc import LMap, Where, load_yaml
from orchestrator.plan.knobs import run_length
from orchestrator.plan.study import ModelEntry, Study

_KEYS = ("name", "priority", "models", "devices", "spread", "engines", "precisions", "scenarios",
         "load", "batch_sizes", "threads", "options", "run", "power", "max_attempts")
_LOAD_KEYS = ("requests", "qps", "latency_bound_ms", "find_peak", "until_stable_pct", "seed")
_RUN_KEYS = ("warmup_s", "duration_s", "iterations", "max_duration_s", "target_ci_pct", "timeout_s")


def load_study(path: Path) -> Study:
    """Read a study YAML file.

    Raises:
        InventoryError: bad YAML, an unknown key or a bad value, with the file and line.
    """
    return study_from(F.mapping(load_yaml(path), Where(str(path), 1)), path)


def study_from(data: LMap, path: Path) -> Study:
    """A study from a parsed YAML mapping: a study file's, or the study keys of a suite file
    (orchestrator/nightly/suite.py). Paths are relative to `path`'s folder.

    Raises:
        InventoryError: an unknown key or a bad value, with the file and line.
    """
    where = Where(str(path), 1)
    F.check_keys(data, _KEYS, where, "a study")

    def w(key: str) -> Where:
        return where.at(data.line_of(key), field=key)

    config = Study(
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
    return run_length(
        warmup_s=F.number(data.get("warmup_s", 1.0), where.at(field="warmup_s"), optional=False),
        duration_s=F.number(data.get("duration_s", 5.0), where.at(field="duration_s"), optional=False),
        iterations=F.integer(data.get("iterations", 100), where.at(field="iterations"), optional=False),
        max_duration_s=F.number(data.get("max_duration_s"), where.at(field="max_duration_s")),
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
