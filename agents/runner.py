"""Run one JobSpec end to end and always return a RunResult, whatever went wrong.

Phases, each timed on the monotonic clock: idle (power), compile, load, first_inference,
warmup, measure. Cold start (load + first inference) is reported apart from the steady state.
The power sampler runs only around warm-up and measure, and its metrics cover exactly the
measured window; device telemetry is snapshotted just before warm-up and just after measure.
"""

from __future__ import annotations

import resource
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, cast

from agents import accuracy, harness, modelfiles, probe, requirements, scenarios
from agents.compile import cache_root, compile_cached, evict
from agents.engines import get_engine
from agents.engines.base import Session, short_message
from agents.errors import EngineUnavailable, InfraError, ModelError, UnsupportedVariant, UserError
from agents.harness import Measurement
from agents.inputs import Calibration, load_user_data, make_input_sets, shapes_from_data
from agents.modelfiles import sha256_file  # noqa: F401  (re-exported: callers import it here)
from agents.power.sampler import Sampler, open_sampler
from agents.spec import JobSpec, RunResult
from agents.stats import summarize
from agents.telemetry import Telemetry, throttle_reasons

Progress = Callable[[str, float, int], None]
# What window_metrics returns that is not a number: stored in environment["power"].
_POWER_ENV = {"power_rails": "rails_summed", "power_method": "method", "power_reason": "reason",
              "power_samples": "samples_in_window"}
TRACE_POINTS = 500
IDLE_DRIFT = 0.02  # a dynamic power this far below zero (fraction of idle) flags `power-drift`




def run_job(spec: JobSpec, progress: Progress | None = None,
            telemetry: Telemetry | None = None) -> RunResult:
    """Compile, load, warm up and measure one job.

    Args:
        spec: the job.
        progress: called with (phase, fraction of the phase done, iterations so far).
        telemetry: reads the device's temperatures and clocks (this machine's by default).
    Returns:
        A RunResult with status ok, model-error or infra-error; never raises for a job's failure.
    """
    result = RunResult(job_id=spec.job_id, attempt=spec.attempt, status="ok", job=spec,
                       started_at=_now())
    try:
        result.environment = probe.environment()
        _execute(spec, result, progress or (lambda *a: None), telemetry or Telemetry())
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


def _execute(spec: JobSpec, result: RunResult, progress: Progress, telemetry: Telemetry) -> None:
    modelfiles.verify(Path(spec.model.path), spec.model.sha256, spec.model.companions)
    engine = get_engine(spec.variant.engine)
    result.environment["engine"] = engine.name
    result.environment["engine_version"] = engine.version()
    scenarios.check(spec.scenario, engine.max_requests)
    raw, defaults = scenarios.scenario_options(engine, spec.scenario, spec.variant.options)
    result.environment["scenario_option_defaults"] = defaults
    options = engine.options(raw, source=f"job {spec.job_id} engine options")
    sampler = open_sampler(spec.power.sensor, spec.power.options, spec.power.rate_hz)
    try:
        _idle(spec, sampler, result, progress)
        _prepare_and_measure(spec, engine, options, result, progress, sampler, telemetry)
    finally:
        sampler.close()
        result.environment["power"] = {**sampler.describe(),
                                       **result.environment.get("power", {})}


def _idle(spec: JobSpec, sampler: Sampler, result: RunResult, progress: Progress) -> None:
    # Idle power is the board at rest before this job touches it: before compile and load.
    if sampler.sensor is None or spec.power.idle_s <= 0:
        sampler.measure_idle(spec.power.idle_s)
        return
    progress("idle", 0.0, 0)
    t0 = time.perf_counter()
    sampler.measure_idle(spec.power.idle_s)
    result.phases_s["idle"] = time.perf_counter() - t0


def _prepare_and_measure(spec: JobSpec, engine, options, result: RunResult, progress: Progress,
                         sampler: Sampler, telemetry: Telemetry) -> None:
    user_data = load_user_data(spec.inputs.files, spec.inputs.npz)
    shapes = {**spec.inputs.shapes, **{k: list(v.shape) for k, v in user_data.items()}}
    suffix = Path(spec.model.path).suffix.lower()
    if suffix not in engine.formats:
        raise UnsupportedVariant(f"{engine.name} cannot read {suffix} models; it reads "
                                 f"{', '.join(engine.formats)}")
    options = engine.resolve_options(options, shapes)
    progress("compile", 0.0, 0)
    artifact = _compile(spec, engine, options, shapes, result)
    progress("load", 0.0, 0)
    t0 = time.perf_counter()
    try:
        session = engine.load(artifact, options, shapes)
    except (UserError, EngineUnavailable):
        raise  # the job's or the board's fault, not the artifact's
    except Exception as e:
        if artifact.cache != "hit":
            raise
        # A cached artifact that no longer loads (written by an older benchlab, or damaged on
        # disk) is rebuilt once; a second failure is the model's and is reported as such.
        evict(artifact, cache_root(spec.cache_dir))
        artifact = _compile(spec, engine, options, shapes, result)
        result.environment["artifact"]["rebuilt"] = f"the cached artifact did not load: {short_message(e)}"
        t0 = time.perf_counter()
        session = engine.load(artifact, options, shapes)
    result.phases_s["load"] = time.perf_counter() - t0
    try:
        _measure(spec, session, user_data, result, progress, sampler, telemetry)
    finally:
        session.close()


def _compile(spec: JobSpec, engine, options, shapes: dict, result: RunResult):
    """The artifact from the cache or compiled now; compile time, size, tools and cache use."""
    calibration = None
    if spec.variant.precision == "int8":
        calibration = Calibration(spec.calibration.path, shapes, spec.calibration.samples)
    try:
        artifact = compile_cached(engine, Path(spec.model.path), spec.model.sha256,
                                  spec.variant.precision, options, cache_root(spec.cache_dir),
                                  calibration, spec.calibration.sha256)
    except ModuleNotFoundError as e:
        # A converter that imports a package this board lacks: the variant cannot be made here,
        # which is no fault of the device (only infra-error counts against its health).
        if not e.name:
            raise
        need = requirements.for_module(e.name)
        raise UnsupportedVariant(f"{engine.name} {spec.variant.precision} needs "
                                 f"{requirements.describe([need])}") from e
    result.phases_s["compile"] = artifact.compile_s
    result.metrics.update({"compile_s": artifact.compile_s, "artifact_bytes": artifact.size_bytes})
    result.environment["artifact"] = {"cache": artifact.cache, "path": artifact.path,
                                      "tool_versions": artifact.tool_versions}
    if calibration is not None and calibration.generated and artifact.cache != "none" and engine.calibrates:
        result.flags.append("calibration-generated")
    return artifact


def _measure(spec: JobSpec, session: Session, user_data: dict, result: RunResult,
             progress: Progress, sampler: Sampler, telemetry: Telemetry) -> None:
    shapes_from_data(session.inputs, user_data)  # rejects data for inputs the model lacks
    # --input/--inputs data is given as the source model takes it (ONNX names and layouts); a
    # converted model (ONNX -> TFLite's NHWC) gets it transposed the way its converter did.
    # The accuracy check keeps the data as given: it feeds the reference and adapts it itself.
    session_data = session.adapt_inputs(user_data) if user_data else user_data
    # A loaded session's inputs have concrete shapes (Engine.load's contract).
    shapes = {t.name: cast("list[int]", list(t.shape)) for t in session.inputs}
    # Several requests in flight each need an input set no other request is using.
    requests = scenarios.requests_in_flight(spec.scenario, session)
    prepared = [session.prepare(feed) for feed in make_input_sets(
        session.inputs, shapes, session_data, scenarios.input_sets(spec, requests), spec.inputs.seed)]
    result.engine_config = session.resolved_config()
    result.environment["input_shapes"] = shapes
    progress("first_inference", 0.0, 0)
    try:
        first_ms, _ = harness.first_inference(session, prepared)
    except Exception as e:
        raise ModelError(f"{spec.variant.engine}: inference failed: {short_message(e)}") from e
    result.phases_s["first_inference"] = first_ms / 1e3
    if spec.accuracy_check:
        _accuracy(spec, session, user_data, result, progress)
    outcome = _timed(spec, session, prepared, requests, result, progress, sampler, telemetry)
    m = outcome.measurement
    result.phases_s["measure"] = m.wall_s
    result.set_latencies_ns(m.samples_ns)
    result.metrics.update(summarize(m.samples_ns, m.wall_s, spec.scenario.batch))
    result.metrics.update({
        "first_inference_ms": first_ms, "warmup_iterations": outcome.warmup_iterations,
        "cold_start_ms": result.phases_s["load"] * 1e3 + first_ms,
        "measure_start_ns": m.start_ns, "measure_end_ns": m.end_ns, **outcome.metrics})
    result.environment["stopped_by"] = m.stopped_by
    result.environment["scenario"] = outcome.environment
    result.flags.extend(outcome.flags)
    _record_power(result, sampler, m, int(m.samples_ns.size) * spec.scenario.batch)
    # Under Poisson load a wide latency spread is the answer, not measurement noise.
    _flag(result, spec.run.noisy_cv if spec.scenario.name != "server" else float("inf"))
    progress("done", 1.0, int(m.samples_ns.size))


def _accuracy(spec: JobSpec, session: Session, user_data: dict, result: RunResult,
              progress: Progress) -> None:
    progress("accuracy", 0.0, 0)
    try:
        metrics, details = accuracy.check(spec, session, user_data)
    except Exception as e:  # a failed comparison must not cost the latency figures
        metrics, details = {}, {"reference": None, "reason": f"accuracy check failed: {short_message(e)}"}
    result.metrics.update(metrics)
    result.environment["accuracy"] = details


def _timed(spec: JobSpec, session: Session, prepared: list, requests: int, result: RunResult,
           progress: Progress, sampler: Sampler, telemetry: Telemetry) -> scenarios.Outcome:
    """Warm-up and measure the scenario with the sampler running, between two telemetry
    snapshots."""
    before = telemetry.snapshot()
    sampler.start()
    try:
        outcome = scenarios.measure(spec, session, prepared, requests, progress)
    finally:
        sampler.stop()
    after = telemetry.snapshot()
    result.phases_s["warmup"] = outcome.warmup_s
    result.environment["telemetry"] = {"before": before, "after": after,
                                       "throttle_reasons": throttle_reasons(before, after)}
    return outcome


def _record_power(result: RunResult, sampler: Sampler, m: Measurement, inferences: int) -> None:
    """Power metrics over exactly the measured window; rails and reasons in the environment."""
    power = sampler.window_metrics(m.start_ns, m.end_ns, inferences)
    result.metrics.update({k: v for k, v in power.items() if k not in _POWER_ENV})
    result.environment["power"] = {**sampler.describe(),
                                   **{_POWER_ENV[k]: power[k] for k in _POWER_ENV}}
    result.power_trace = sampler.trace(TRACE_POINTS, window=(m.start_ns, m.end_ns))
    dynamic, idle = power.get("power_dynamic_w"), power.get("power_idle_w")
    if dynamic is not None and idle and dynamic < -IDLE_DRIFT * idle:
        # Seen on an H100: idle read at 78 W while the board still cooled down from earlier work,
        # then 72 W over the run. The average and the energy stand; the dynamic figure does not.
        result.flags.append("power-drift")
        result.environment["power"]["drift_reason"] = (
            f"idle power {idle:.1f} W is above the run's {power['power_avg_w']:.1f} W: the idle "
            "baseline drifted (the board was still settling), so power_dynamic_w is not meaningful")


def _flag(result: RunResult, noisy_cv: float) -> None:
    """`noisy` (CV above the limit) and `throttled` each also make the run `unstable`."""
    reasons = []
    cv = result.metrics.get("latency_cv")
    if cv is not None and cv > noisy_cv:
        result.flags.append("noisy")
        reasons.append(f"latency CV {cv:.3f} above {noisy_cv:g}")
    throttled = result.environment.get("telemetry", {}).get("throttle_reasons", [])
    if throttled:
        result.flags.append("throttled")
        reasons.extend(throttled)
    if reasons:
        result.flags.append("unstable")
        result.environment["unstable_reasons"] = reasons


def _fail(result: RunResult, status: str, e: BaseException, message: str | None = None) -> None:
    result.status = status
    result.error = message or short_message(e)
    result.error_type = type(e).__name__
    if not isinstance(e, (UserError, ModelError)):
        result.traceback = traceback.format_exc()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")
