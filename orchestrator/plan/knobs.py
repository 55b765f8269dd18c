"""Every knob a user turns, parsed in one place: comma lists, shapes, engine options, pairs,
batch sizes, --until-stable, the run length (THE timeout rule), the power spec, the load
settings, and `Flags` -> `Study` (the only converter from command-line flags to a study).

Each parser raises a one-line UserError naming the flag.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.errors import UserError
from agents.spec import PowerSpec, RunLength
from inventory.yamlsrc import Where
from orchestrator.plan.study import ModelEntry, Study


def split_list(text: str | None) -> list[str]:
    """`a, b,,c` -> ["a", "b", "c"]; None or "" -> []."""
    return [t.strip() for t in (text or "").split(",") if t.strip()]


def parse_shape(text: str) -> tuple[str, list[int]]:
    """`NAME=1,3,224,224` -> ("NAME", [1, 3, 224, 224]); `NAME=` is a scalar.

    Raises:
        UserError: not NAME=D1,D2,... with integer dims.
    """
    name, sep, dims = text.rpartition("=")
    if not sep or not name:
        raise UserError(f"--shape {text!r}: expected NAME=D1,D2,... (e.g. input=1,3,224,224)")
    try:
        return name, [int(d) for d in dims.split(",") if d.strip()]
    except ValueError:
        raise UserError(f"--shape {text!r}: dims must be integers") from None


def parse_shapes(items: list[str]) -> dict[str, list[int]]:
    """Repeated `--shape NAME=D1,D2` into {NAME: [D1, D2]}."""
    return dict(map(parse_shape, items))


def parse_option(text: str) -> tuple[str, str, str]:
    """`ENGINE.KEY=VALUE` -> (engine, key, value).

    Raises:
        UserError: not ENGINE.KEY=VALUE.
    """
    key, sep, value = text.partition("=")
    engine, dot, name = key.partition(".")
    if not sep or not dot or not engine or not name:
        raise UserError(f"--option {text!r}: expected ENGINE.KEY=VALUE (e.g. openvino.hint=THROUGHPUT)")
    return engine, name, value


def parse_options(items: list[str]) -> dict[str, dict[str, str]]:
    """Repeated `--option ENGINE.KEY=VALUE` into {engine: {key: value}}."""
    options: dict[str, dict[str, str]] = {}
    for engine, key, value in map(parse_option, items):
        options.setdefault(engine, {})[key] = value
    return options


def parse_pairs(items: list[str], flag: str) -> dict[str, str]:
    """`NAME=VALUE` items into a dict.

    Raises:
        UserError: an item that is not NAME=VALUE, naming `flag`.
    """
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise UserError(f"{flag} {item!r}: expected NAME=VALUE")
        out[name] = value
    return out


def parse_batches(text: str | None) -> list[int] | None:
    """`1,8,32` -> [1, 8, 32]; None stays None.

    Raises:
        UserError: not a comma-separated list of integers.
    """
    if text is None:
        return None
    try:
        return [int(t) for t in split_list(text)]
    except ValueError:
        raise UserError(f"--batch {text!r}: expected comma-separated integers, e.g. 1,8,32") from None


def parse_until_stable(text: str | None) -> float | None:
    """`1%` or `1` -> 1.0; None stays None.

    Raises:
        UserError: not a number.
    """
    if text is None:
        return None
    try:
        return float(text.strip().removesuffix("%"))
    except ValueError:
        raise UserError(f"--until-stable {text!r}: expected a percentage such as 1% or 0.5") from None


def default_max_duration(duration_s: float) -> float:
    """THE timeout rule: measuring stops after max(60, 2 x duration) seconds unless told."""
    return max(60.0, 2 * duration_s)


def run_length(warmup_s: float = 1.0, duration_s: float = 5.0, iterations: int = 100,
               max_duration_s: float | None = None, target_ci_pct: float | None = None,
               timeout_s: float | None = None) -> RunLength:
    """The run length of every job, from flags, a study file or an API body alike."""
    return RunLength(warmup_s=warmup_s, min_duration_s=duration_s, min_iterations=iterations,
                     max_duration_s=default_max_duration(duration_s) if max_duration_s is None else max_duration_s,
                     target_ci_pct=target_ci_pct, timeout_s=timeout_s)


def power_spec(sensor: str = "none", options: dict[str, Any] | None = None, idle_s: float = 2.0) -> PowerSpec:
    """The power spec of every job: no idle measurement when there is no sensor."""
    return PowerSpec(sensor=sensor, options=dict(options or {}), idle_s=idle_s if sensor != "none" else 0.0)


@dataclass
class Flags:
    """The knobs `bench run` and `bench submit` share, as typed on the command line (raw text
    for lists; parsed by `study_from_flags`)."""

    engines: str | None = None
    precisions: str = "fp32"
    scenarios: str = "single-stream"
    batch: str | None = None
    shape: list[str] = field(default_factory=list)
    input: list[str] = field(default_factory=list)
    inputs: Path | None = None
    threads: int | None = None
    option: list[str] = field(default_factory=list)
    warmup: float = 1.0
    duration: float = 5.0
    iterations: int = 100
    max_duration: float | None = None
    target_ci: float | None = None
    until_stable: str | None = None
    requests: int | None = None
    qps: float | None = None
    latency_bound_ms: float | None = None
    find_peak: bool = False
    power: str = "none"
    power_option: list[str] = field(default_factory=list)
    idle_power: float = 2.0
    calibration: Path | None = None
    strict: bool = False
    max_accuracy_drop: float | None = None
    no_accuracy: bool = False
    cache_dir: Path | None = None
    timeout: float | None = None
    devices: str = "all"
    spread: str = "each"
    priority: str | None = None
    max_attempts: int = 3
    name: str | None = None


def load_settings(flags: Flags) -> dict[str, Any]:
    """The study's `load` settings from flags (only those given).

    Raises:
        UserError: --until-stable that is not a percentage.
    """
    return {k: v for k, v in (("requests", flags.requests), ("qps", flags.qps),
                              ("latency_bound_ms", flags.latency_bound_ms),
                              ("find_peak", flags.find_peak or None),
                              ("until_stable_pct", parse_until_stable(flags.until_stable)))
            if v is not None}


def study_from_flags(target: Path, flags: Flags, verb: str) -> Study:
    """The study a model file and the flags describe, checked as far as it can be without the
    inventory: run length, names and load settings first (in the flags' wording: "unknown
    precision 'fp64'"), then `Study.check`. The model itself is read later (enqueue.check).

    Args:
        target: the model file.
        flags: the knobs.
        verb: "run" (this machine's `local` device, one attempt: a failure is shown, not
            retried) or "submit" (the `--devices` selectors, `--max-attempts`).
    Raises:
        UserError: a flag that does not parse or a bad value, one line.
    """
    from orchestrator.plan import jobs  # engines and model files: numpy, imported only when used
    from orchestrator.plan.scenarios import check_flags

    model = ModelEntry(target, shapes=parse_shapes(flags.shape), files=parse_pairs(flags.input, "--input"),
                       npz=str(flags.inputs) if flags.inputs else None,
                       calibration=str(flags.calibration) if flags.calibration else None)
    run = verb == "run"
    study = Study(
        models=[model], devices=["local"] if run else split_list(flags.devices),
        engines=split_list(flags.engines) if flags.engines else jobs.available_engines(target),
        precisions=split_list(flags.precisions), scenarios=split_list(flags.scenarios),
        batch_sizes=parse_batches(flags.batch), load=load_settings(flags), spread=flags.spread,
        priority=flags.priority or "interactive", threads=flags.threads,
        options=parse_options(flags.option),
        length=run_length(flags.warmup, flags.duration, flags.iterations, flags.max_duration,
                          flags.target_ci, flags.timeout),
        power=power_spec(flags.power, parse_pairs(flags.power_option, "--power-option"), flags.idle_power),
        max_attempts=1 if run else flags.max_attempts,
        name=f"run {target.name}" if run else flags.name, source=f"bench {verb}",
        strict=flags.strict, max_accuracy_drop=flags.max_accuracy_drop,
        accuracy_check=not flags.no_accuracy, cache_dir=str(flags.cache_dir) if flags.cache_dir else None)
    jobs.validate_length(study.length)
    jobs.check_names(study)
    check_flags(jobs.load_of(study), study.engines)
    study.check(Where(f"bench {verb}"))
    return study
