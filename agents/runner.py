"""Run one JobSpec end to end and always return a RunResult, whatever went wrong.

Phases, each timed on the monotonic clock: compile, load, first_inference, warmup, measure.
Cold start (load + first inference) is reported apart from the steady state.
"""

from __future__ import annotations

import hashlib
import resource
import tempfile
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from agents import harness, probe
from agents.engines import get_engine
from agents.engines.base import Session, short_message
from agents.errors import InfraError, ModelError, UserError
from agents.inputs import load_user_data, make_input_sets, shapes_from_data
from agents.spec import JobSpec, RunResult
from agents.stats import summarize

Progress = Callable[[str, float, int], None]


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def run_job(spec: JobSpec, progress: Progress | None = None) -> RunResult:
    """Compile, load, warm up and measure one job.

    Args:
        spec: the job.
        progress: called with (phase, fraction of the phase done, iterations so far).
    Returns:
        A RunResult with status ok, model-error or infra-error; never raises for a job's failure.
    """
    result = RunResult(job_id=spec.job_id, attempt=spec.attempt, status="ok", job=spec,
                       started_at=_now())
    try:
        result.environment = probe.environment()
        _execute(spec, result, progress or (lambda *a: None))
    except (ModelError, UserError) as e:
        _fail(result, "model-error", e)
    except InfraError as e:
        _fail(result, "infra-error", e)
    except MemoryError as e:
        _fail(result, "infra-error", e, "out of memory")
    except Exception as e:  # a bug or an engine failure we did not classify: keep it as data
        _fail(result, "infra-error", e)
    result.finished_at = _now()
    result.metrics["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def _execute(spec: JobSpec, result: RunResult, progress: Progress) -> None:
    model = Path(spec.model.path)
    if not model.is_file():
        raise InfraError(f"model file {model} is not on this device")
    if sha256_file(model) != spec.model.sha256:
        raise InfraError(f"model file {model} does not match sha256 {spec.model.sha256[:12]}…")
    engine = get_engine(spec.variant.engine)
    result.environment["engine"] = engine.name
    result.environment["engine_version"] = engine.version()
    options = engine.options(spec.variant.options, source=f"job {spec.job_id} engine options")
    progress("compile", 0.0, 0)
    workdir = Path(spec.cache_dir or tempfile.gettempdir())
    artifact = engine.compile(model, spec.variant.precision, options, workdir)
    result.phases_s["compile"] = artifact.compile_s
    result.metrics.update({"artifact_bytes": artifact.size_bytes})
    result.environment["artifact_cache"] = artifact.cache
    user_data = load_user_data(spec.inputs.files, spec.inputs.npz)
    progress("load", 0.0, 0)
    t0 = time.perf_counter()
    data_shapes = {name: list(arr.shape) for name, arr in user_data.items()}
    session = engine.load(artifact, options, {**spec.inputs.shapes, **data_shapes})
    result.phases_s["load"] = time.perf_counter() - t0
    try:
        _measure(spec, session, user_data, result, progress)
    finally:
        session.close()


def _measure(spec: JobSpec, session: Session, user_data: dict, result: RunResult,
             progress: Progress) -> None:
    shapes_from_data(session.inputs, user_data)  # rejects data for inputs the model lacks
    shapes = {t.name: list(t.shape) for t in session.inputs}
    sets = make_input_sets(session.inputs, shapes, user_data, spec.inputs.sets, spec.inputs.seed)
    prepared = [session.prepare(feed) for feed in sets]
    result.engine_config = session.resolved_config()
    result.environment["input_shapes"] = shapes
    progress("first_inference", 0.0, 0)
    try:
        first_ms, _ = harness.first_inference(session, prepared)
    except Exception as e:
        raise ModelError(f"{spec.variant.engine}: inference failed: {short_message(e)}") from e
    result.phases_s["first_inference"] = first_ms / 1e3
    iters, warm_s = harness.warm_up(session, prepared, spec.run, progress=progress)
    result.phases_s["warmup"] = warm_s
    m = harness.measure_single_stream(session, prepared, spec.run, progress=progress)
    result.phases_s["measure"] = m.wall_s
    result.set_latencies_ns(m.samples_ns)
    result.metrics.update(summarize(m.samples_ns, m.wall_s, spec.scenario.batch))
    result.metrics.update({
        "first_inference_ms": first_ms, "warmup_iterations": iters,
        "cold_start_ms": result.phases_s["load"] * 1e3 + first_ms,
        "measure_start_ns": m.start_ns, "measure_end_ns": m.end_ns})
    result.environment["stopped_by"] = m.stopped_by
    cv = result.metrics.get("latency_cv")
    if cv is not None and cv > spec.run.noisy_cv:
        result.flags.append("noisy")
    progress("done", 1.0, int(m.samples_ns.size))


def _fail(result: RunResult, status: str, e: BaseException, message: str | None = None) -> None:
    result.status = status
    result.error = message or short_message(e)
    result.error_type = type(e).__name__
    if not isinstance(e, (UserError, ModelError)):
        result.traceback = traceback.format_exc()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")
