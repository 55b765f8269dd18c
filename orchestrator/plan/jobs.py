"""A study's jobs: preflight (everything checked before anything is stored) and one JobSpec per
(engine, precision, batch, scenario) of a model, with no side effects.

Every road uses this: `bench run` and `bench submit` (flags), a study file, the server's API
body and `bench nightly`'s suite, through plan/expand.py.
"""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path

from agents import modelfiles
from agents.engines import get_engine, known_engines
from agents.errors import UserError
from agents.inputs import (Calibration, calibration_sha256, load_user_data, resolve_shapes,
                           shapes_from_data)
from agents.power import check_options as check_power_options
from agents.spec import (PRECISIONS, CalibrationSpec, InputSpec, JobSpec, ModelRef, PowerSpec,
                         RunLength, Scenario, Variant)
from orchestrator.plan.modelinfo import read_inputs
from orchestrator.plan.scenarios import LoadFlags, batch_shapes, check_flags, model_batch, scenario_for
from orchestrator.plan.study import ModelEntry, Study


def available_engines(model: Path | None = None) -> list[str]:
    """The engines whose SDK imports on this machine and that can run this model's format
    here without an extra (the default for `bench run` and `bench submit`)."""
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


def check_names(study: Study) -> None:
    """Check engine, precision and option names, threads, the accuracy limit and the power
    settings, in the flags' wording ("unknown precision 'fp64'"). Flag sources call it before
    `Study.check`; preflight calls it again for every source.

    Raises:
        UserError: one line.
    """
    if not study.engines:
        raise UserError("no engine to run: none is installed here; install benchlab[onnxruntime] "
                        "or benchlab[openvino]")
    for engine in study.engines:
        get_engine(engine)  # raises UnknownEngine with the known names
    for precision in study.precisions:
        if precision not in PRECISIONS:
            raise UserError(f"unknown precision '{precision}'; known: {', '.join(PRECISIONS)}")
    for engine in study.options:
        if engine not in study.engines:
            raise UserError(f"--option for engine '{engine}', which is not in --engine "
                            f"({', '.join(study.engines)}); known engines: {', '.join(known_engines())}")
    if study.threads is not None and study.threads < 1:
        raise UserError(f"--threads must be >= 1, got {study.threads}")
    if study.max_accuracy_drop is not None and not 0 <= study.max_accuracy_drop <= 1:
        raise UserError(f"--max-accuracy-drop is a fraction in [0, 1], got {study.max_accuracy_drop:g}")
    power = power_of(study)
    if power.idle_s < 0:
        raise UserError(f"--idle-power must be >= 0 seconds, got {power.idle_s:g}")
    check_power_options(power.sensor, power.options)  # names the sensor or the key


def power_of(study: Study) -> PowerSpec:
    """The study's power spec (none given: the JobSpec default; workers then apply the device's)."""
    return study.power if study.power is not None else PowerSpec()


def load_of(study: Study) -> LoadFlags:
    """The study's scenarios, batch sizes and load settings as one LoadFlags."""
    return LoadFlags(scenarios=tuple(study.scenarios),
                     batches=tuple(study.batch_sizes) if study.batch_sizes else None, **study.load)


def plan(study: Study, model: ModelEntry, study_id: str = "") -> list[JobSpec]:
    """Preflight one model of a study and build its JobSpecs (fresh job ids), nested in
    (engine, precision, batch, scenario) order; no side effects.

    Raises:
        UserError: any bad input, as one line.
    """
    load = load_of(study)
    ref, calibration, batches = preflight(study, model, load)
    return [build_spec(study, model, ref, study_id, engine, precision, calibration,
                       scenario_for(load, name, batch), shapes)
            for engine in study.engines for precision in study.precisions
            for batch, shapes in batches for name in load.scenarios]


def preflight(study: Study, model: ModelEntry, load: LoadFlags
              ) -> tuple[ModelRef, CalibrationSpec, list[tuple[int, dict]]]:
    """Check everything before anything is stored: run length, names, scenario settings, the
    model file, its input shapes, data and calibration files.

    Returns:
        The model reference, the calibration spec, and each batch size with its input shapes.
    Raises:
        UserError: any bad input, as one line.
    """
    validate_length(study.length)
    check_names(study)
    check_flags(load, study.engines)
    inputs = read_inputs(model.path)
    data = load_user_data(model.files, model.npz)
    batches = _batches(model, load, inputs, shapes_from_data(inputs, data))
    calibration = _calibration(study, model, inputs)
    sha, companions = modelfiles.describe(model.path)
    ref = ModelRef(path=str(model.path.resolve()), sha256=sha, size_bytes=model.path.stat().st_size,
                   name=model.path.stem, companions=companions)
    return ref, calibration, batches


def _batches(model: ModelEntry, load: LoadFlags, inputs: list, data_shapes: dict) -> list[tuple[int, dict]]:
    """(batch, shapes) per batch size, or the model's own batch; every one resolved."""
    if not load.batches:
        return [(model_batch(inputs, resolve_shapes(inputs, {**model.shapes, **data_shapes})), dict(model.shapes))]
    out = []
    for batch in load.batches:
        shapes = batch_shapes(inputs, model.shapes, batch, data_shapes)
        resolve_shapes(inputs, {**shapes, **data_shapes})
        out.append((batch, shapes))
    return out


def _calibration(study: Study, model: ModelEntry, inputs: list) -> CalibrationSpec:
    """Check the calibration data now (a corrupt file is one line, exit 1), or refuse to
    calibrate on generated data under --strict."""
    if model.calibration is None:
        if study.strict and "int8" in study.precisions:
            raise UserError("--strict: int8 needs --calibration data.npz (or a folder of .npz); "
                            "generated data would make its accuracy figures meaningless")
        return CalibrationSpec()
    path = Path(model.calibration)
    if not path.exists():
        raise UserError(f"--calibration {path}: not found")
    Calibration(str(path), model.shapes).sets(inputs)  # reads and fits every file
    return CalibrationSpec(path=str(path.resolve()), sha256=calibration_sha256(str(path)))


def _has_option(engine: str, name: str) -> bool:
    return name in {f.name for f in dataclasses.fields(get_engine(engine).Options)}


def build_spec(study: Study, model: ModelEntry, ref: ModelRef, study_id: str, engine: str,
               precision: str, calibration: CalibrationSpec, scenario: Scenario | None = None,
               shapes: dict[str, list[int]] | None = None) -> JobSpec:
    """One JobSpec (fresh job id) for (engine, precision); validates the engine's options now
    rather than on the board. `scenario` (default single-stream, batch 1) and `shapes`
    (default the model's) are those of one batch size and scenario. Its device is `local`
    until the study is expanded onto devices."""
    raw = dict(study.options.get(engine, {}))
    if study.threads is not None and _has_option(engine, "threads"):
        raw.setdefault("threads", study.threads)
    get_engine(engine).options(raw, source=f"--option {engine}.*")  # validate now, not on the board
    files = {k: str(Path(v).resolve()) for k, v in model.files.items()}
    return JobSpec(job_id=uuid.uuid4().hex[:16], model=ref, study_id=study_id,
                   variant=Variant(engine=engine, precision=precision, options=raw),
                   scenario=scenario or Scenario(), run=study.length, device="local",
                   power=power_of(study), calibration=calibration, accuracy_check=study.accuracy_check,
                   cache_dir=str(Path(study.cache_dir).resolve()) if study.cache_dir else None,
                   inputs=InputSpec(shapes=dict(model.shapes if shapes is None else shapes), files=files,
                                    npz=str(Path(model.npz).resolve()) if model.npz else None))
