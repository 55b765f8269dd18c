"""`bench run`: benchmark one model on this machine, variant by variant, and store every run.

`plan` validates everything and builds the JobSpecs without side effects; `execute` stores the
study and its jobs, runs each job through the transport and ingests each RunResult as it
arrives, so a run that finished is stored even if a later one fails.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from agents import modelfiles
from agents.engines import get_engine, known_engines
from agents.errors import UserError
from agents.inputs import (Calibration, calibration_sha256, load_user_data, resolve_shapes,
                           shapes_from_data)
from agents.power import check_options as check_power_options
from agents.spec import (PRECISIONS, CalibrationSpec, InputSpec, JobSpec, ModelRef, PowerSpec,
                         RunLength, RunResult, Scenario, Variant)
from orchestrator.modelinfo import read_inputs
from orchestrator.scenario_flags import LoadFlags, batch_shapes, check_flags, model_batch, scenario_for
from orchestrator.transports import get_transport
from orchestrator.transports.base import Progress, Transport
from results.db import open_db
from results.ingest import add_jobs, ingest
from results.models import Study


@dataclass
class RunRequest:
    """Everything `bench run` was asked to do."""

    model: Path
    engines: list[str]
    precisions: list[str] = field(default_factory=lambda: ["fp32"])
    shapes: dict[str, list[int]] = field(default_factory=dict)
    options: dict[str, dict[str, Any]] = field(default_factory=dict)
    threads: int | None = None
    length: RunLength = field(default_factory=RunLength)
    input_files: dict[str, str] = field(default_factory=dict)
    npz: str | None = None
    power: PowerSpec = field(default_factory=PowerSpec)
    calibration: str | None = None
    strict: bool = False
    max_accuracy_drop: float | None = None
    accuracy_check: bool = True
    cache_dir: str | None = None
    device: str = "local"
    db: str | None = None
    load: LoadFlags = field(default_factory=LoadFlags)


def available_engines(model: Path | None = None) -> list[str]:
    """The engines whose SDK imports on this machine and that can run this model's format
    here without an extra (the default for `bench run`)."""
    from agents.probe import engines
    names = [name for name, info in engines().items() if info["available"]]
    if model is None:
        return names
    return [n for n in names if get_engine(n).supports(model.suffix.lower()) is None]


def validate_length(length: RunLength) -> None:
    """Reject run-length settings that cannot mean anything.

    Raises:
        UserError: naming the flag.
    """
    checks = [(length.warmup_s >= 0, f"--warmup must be >= 0 seconds, got {length.warmup_s:g}"),
              (length.min_duration_s > 0, f"--duration must be > 0 seconds, got {length.min_duration_s:g}"),
              (length.min_iterations >= 1, f"--iterations must be >= 1, got {length.min_iterations}"),
              (length.max_duration_s >= length.min_duration_s,
               f"--max-duration ({length.max_duration_s:g} s) is shorter than --duration "
               f"({length.min_duration_s:g} s)")]
    for ok, message in checks:
        if not ok:
            raise UserError(message)


def plan(req: RunRequest) -> tuple[Study, list[JobSpec]]:
    """Validate the request and build one JobSpec per (engine, precision, batch, scenario);
    no side effects.

    Raises:
        UserError: any bad input, as one line.
    """
    model, calibration, batches = _preflight(req)
    study = Study(id=uuid.uuid4().hex[:12], name=f"run {req.model.name}", source="bench run")
    specs = [build_spec(req, model, study.id, engine, precision, calibration,
                        scenario_for(req.load, name, batch), shapes)
             for engine in req.engines for precision in req.precisions
             for batch, shapes in batches for name in req.load.scenarios]
    study.spec = {"model": model.path, "engines": req.engines, "precisions": req.precisions,
                  "scenarios": list(req.load.scenarios), "batches": [b for b, _ in batches]}
    return study, specs


def preflight(req: RunRequest) -> tuple[ModelRef, CalibrationSpec]:
    """Check the whole request before anything is stored: run length, engine, precision and
    option names, the model file, its input shapes, data and calibration files. Shared by
    `bench run` and the study expansion of `bench submit`.

    Returns:
        The model reference (path, sha256, size, name) and the calibration spec.
    Raises:
        UserError: any bad input, as one line.
    """
    model, calibration, _ = _preflight(req)
    return model, calibration


def _preflight(req: RunRequest) -> tuple[ModelRef, CalibrationSpec, list[tuple[int, dict]]]:
    """`preflight`, plus each batch size with the input shapes that give it."""
    validate_length(req.length)
    _check_names(req)
    check_flags(req.load, req.engines)
    inputs = read_inputs(req.model)
    data = load_user_data(req.input_files, req.npz)
    batches = _batches(req, inputs, shapes_from_data(inputs, data))
    calibration = _calibration(req, inputs)
    sha, companions = modelfiles.describe(req.model)
    model = ModelRef(path=str(req.model.resolve()), sha256=sha, size_bytes=req.model.stat().st_size,
                     name=req.model.stem, companions=companions)
    return model, calibration, batches


def _batches(req: RunRequest, inputs: list, data_shapes: dict) -> list[tuple[int, dict]]:
    """(batch, shapes) per `--batch` size, or the model's own batch; every one resolved."""
    if not req.load.batches:
        return [(model_batch(inputs, resolve_shapes(inputs, {**req.shapes, **data_shapes})), dict(req.shapes))]
    out = []
    for batch in req.load.batches:
        shapes = batch_shapes(inputs, req.shapes, batch, data_shapes)
        resolve_shapes(inputs, {**shapes, **data_shapes})
        out.append((batch, shapes))
    return out


def _check_names(req: RunRequest) -> None:
    if not req.engines:
        raise UserError("no engine to run: none is installed here; install benchlab[onnxruntime] "
                        "or benchlab[openvino]")
    for engine in req.engines:
        get_engine(engine)  # raises UnknownEngine with the known names
    for precision in req.precisions:
        if precision not in PRECISIONS:
            raise UserError(f"unknown precision '{precision}'; known: {', '.join(PRECISIONS)}")
    for engine in req.options:
        if engine not in req.engines:
            raise UserError(f"--option for engine '{engine}', which is not in --engine "
                            f"({', '.join(req.engines)}); known engines: {', '.join(known_engines())}")
    if req.threads is not None and req.threads < 1:
        raise UserError(f"--threads must be >= 1, got {req.threads}")
    if req.max_accuracy_drop is not None and not 0 <= req.max_accuracy_drop <= 1:
        raise UserError(f"--max-accuracy-drop is a fraction in [0, 1], got {req.max_accuracy_drop:g}")
    if req.power.idle_s < 0:
        raise UserError(f"--idle-power must be >= 0 seconds, got {req.power.idle_s:g}")
    check_power_options(req.power.sensor, req.power.options)  # names the sensor or the key


def _calibration(req: RunRequest, inputs: list) -> CalibrationSpec:
    """Check the calibration data now (a corrupt file is one line, exit 1), or refuse to
    calibrate on generated data under --strict."""
    if req.calibration is None:
        if req.strict and "int8" in req.precisions:
            raise UserError("--strict: int8 needs --calibration data.npz (or a folder of .npz); "
                            "generated data would make its accuracy figures meaningless")
        return CalibrationSpec()
    path = Path(req.calibration)
    if not path.exists():
        raise UserError(f"--calibration {path}: not found")
    Calibration(str(path), req.shapes).sets(inputs)  # reads and fits every file
    return CalibrationSpec(path=str(path.resolve()), sha256=calibration_sha256(str(path)))


def _has_option(engine: str, name: str) -> bool:
    import dataclasses
    return name in {f.name for f in dataclasses.fields(get_engine(engine).Options)}


def build_spec(req: RunRequest, model: ModelRef, study_id: str, engine: str, precision: str,
               calibration: CalibrationSpec, scenario: Scenario | None = None,
               shapes: dict[str, list[int]] | None = None) -> JobSpec:
    """One JobSpec (fresh job id) of the request for (engine, precision); validates the
    engine's options now rather than on the board. `scenario` (default single-stream, batch
    1) and `shapes` (default the request's) are those of one batch size and scenario."""
    raw = dict(req.options.get(engine, {}))
    if req.threads is not None and _has_option(engine, "threads"):
        raw.setdefault("threads", req.threads)
    get_engine(engine).options(raw, source=f"--option {engine}.*")  # validate now, not on the board
    files = {k: str(Path(v).resolve()) for k, v in req.input_files.items()}
    return JobSpec(job_id=uuid.uuid4().hex[:16], model=model, study_id=study_id,
                   variant=Variant(engine=engine, precision=precision, options=raw),
                   scenario=scenario or Scenario(), run=req.length, device=req.device, power=req.power,
                   calibration=calibration, accuracy_check=req.accuracy_check,
                   cache_dir=str(Path(req.cache_dir).resolve()) if req.cache_dir else None,
                   inputs=InputSpec(shapes=dict(req.shapes if shapes is None else shapes), files=files,
                                    npz=str(Path(req.npz).resolve()) if req.npz else None))


def execute(req: RunRequest, transport: Transport | None = None,
            progress_for: Callable[[JobSpec], Progress | None] = lambda spec: None,
            on_result: Callable[[RunResult], None] = lambda r: None) -> list[RunResult]:
    """Plan, store the study, run each job and store each result as it arrives.

    Returns:
        The RunResults, in job order.
    """
    study, specs = plan(req)
    db = open_db(req.db)
    add_jobs(db, study, specs)
    transport = transport or get_transport("local")
    results = []
    for spec in specs:
        result = transport.run(spec, progress_for(spec))
        apply_accuracy_limit(result, req.max_accuracy_drop)
        ingest(db, result)
        on_result(result)
        results.append(result)
    return results


def accuracy_drop(result: RunResult) -> float | None:
    """1 - top-1 agreement where the output is class scores, else 1 - worst cosine."""
    top1 = result.metrics.get("accuracy_top1_agreement")
    cosine = result.metrics.get("accuracy_cosine_min")
    if top1 is not None:
        return 1.0 - top1
    return None if cosine is None else 1.0 - cosine


def apply_accuracy_limit(result: RunResult, max_drop: float | None) -> None:
    """Flag a variant `accuracy-failed` when its drop exceeds --max-accuracy-drop."""
    drop = accuracy_drop(result)
    if max_drop is None or drop is None or drop <= max_drop:
        return
    result.flags.append("accuracy-failed")
    result.environment.setdefault("accuracy", {})["failed"] = (
        f"accuracy drop {drop:.4f} above the limit {max_drop:g}")


def is_skipped(result: RunResult) -> bool:
    """A variant this engine or device cannot do: shown as skipped, not as a failure."""
    return result.skipped


def failed(results: list[RunResult]) -> bool:
    """Whether `bench run` should exit 2: a run that is not ok (skips aside) or failed accuracy."""
    return any((r.status != "ok" and not is_skipped(r)) or "accuracy-failed" in r.flags
               for r in results)
