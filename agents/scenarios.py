"""Run a JobSpec's scenario on a loaded session and label what its numbers mean.

single-stream: `harness.warm_up` + `harness.measure_single_stream` (one query at a time).
offline: a request pool of `concurrency` requests (default: the engine's optimal number),
warmed up and kept busy (`harness.measure_offline`). server: the same pool fed by Poisson
arrivals (`harness.measure_server`), or `peak.find_peak` searching the rate. Every run says
which scenario, batch, requests in flight and streams produced its figures, and what its
latency is (`latency_kind`), so a throughput-mode latency is never mistaken for a
single-stream one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from agents import harness
from agents.engines.base import Session
from agents.engines.pool import RequestPool
from agents.errors import UserError
from agents.harness import Measurement, Progress
from agents.peak import find_peak
from agents.spec import SCENARIOS, JobSpec, RunLength, Scenario
from agents.stopping import early_stopping_min_queries, effective_length, reported_percentile

LATENCY_KINDS = {"single-stream": "single query: the engine call alone",
                 "offline": "per request, {n} in flight: engine start to completion (throughput mode)",
                 "server": "per query, from its scheduled Poisson arrival to completion (queueing included)"}


@dataclass
class Outcome:
    """A scenario's measurement, its warm-up, and the figures and labels beyond the latencies."""

    measurement: Measurement
    warmup_iterations: int
    warmup_s: float
    metrics: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)


def check(scenario: Scenario, max_requests: int = 64) -> None:
    """Reject scenario settings that cannot run, also for JobSpecs built without `bench run`.

    Raises:
        UserError: naming the setting.
    """
    problems = [
        (scenario.name not in SCENARIOS, f"unknown scenario '{scenario.name}'; known: {', '.join(SCENARIOS)}"),
        (scenario.batch < 1, f"batch must be >= 1, got {scenario.batch}"),
        (scenario.concurrency is not None and not 1 <= scenario.concurrency <= max_requests,
         f"requests in flight must be 1..{max_requests} for this engine, got {scenario.concurrency}"),
        (scenario.target_qps is not None and not scenario.target_qps > 0, f"target qps must be > 0, got {scenario.target_qps}"),
        (scenario.latency_bound_ms is not None and not scenario.latency_bound_ms > 0,
         f"latency bound must be > 0 ms, got {scenario.latency_bound_ms}"),
        (scenario.until_stable_pct is not None and not 0 < scenario.until_stable_pct < 100,
         f"until-stable must be a percentage in (0, 100), got {scenario.until_stable_pct}"),
        (scenario.name == "server" and not scenario.find_peak and scenario.target_qps is None,
         "the server scenario needs a target qps (or find_peak)"),
        (scenario.find_peak and (scenario.name != "server" or scenario.latency_bound_ms is None),
         "find_peak needs the server scenario and a latency bound"),
        (scenario.peak_steps < 1, f"find_peak steps must be >= 1, got {scenario.peak_steps}")]
    for bad, message in problems:
        if bad:
            raise UserError(message)


def requests_in_flight(scenario: Scenario, session: Session) -> int:
    """1 for single-stream; else the scenario's concurrency or the engine's optimal number."""
    if scenario.name == "single-stream":
        return 1
    return scenario.concurrency or max(1, session.optimal_requests())


def input_sets(spec: JobSpec, requests: int) -> int:
    """Distinct input sets to prepare: more than the requests, so none is in flight twice."""
    return max(spec.inputs.sets, requests + 1)


def label(name: str, batch: int = 1, requests: int | None = None, qps: float | None = None,
          peak_qps: float | None = None, find_peak: bool = False) -> str:
    """`single-stream`, `offline b8 x4` (batch 8, 4 requests in flight), `server 200 qps`,
    `server peak 230 qps`; batch shown when not 1."""
    parts = [name]
    if name == "offline":
        parts += [f"b{batch}"] + ([f"x{requests}"] if requests else [])
    elif batch != 1:
        parts.append(f"b{batch}")
    if name == "server" and find_peak:
        parts.append(f"peak {peak_qps:.4g} qps" if peak_qps else "find-peak")
    elif name == "server" and qps:
        parts.append(f"{qps:.4g} qps")
    return " ".join(parts)


def measure(spec: JobSpec, session: Session, prepared: list[Any], requests: int,
            progress: Progress | None = None) -> Outcome:
    """Warm up and measure the spec's scenario (the caller runs the power sampler around it).

    Args:
        spec: the job (its scenario and run length).
        session: the loaded session.
        prepared: prepared input sets, more than `requests` of them.
        requests: requests in flight (see `requests_in_flight`).
    Returns:
        The outcome, with metrics and labels.
    """
    sc, length = spec.scenario, effective_length(spec.run, spec.scenario)
    until = sc.until_stable_pct is not None
    if sc.name == "single-stream":
        iters, warm_s = harness.warm_up(session, prepared, spec.run, progress=progress)
        m = harness.measure_single_stream(session, prepared, length, progress=progress, until_stable=until)
        outcome = Outcome(m, iters, warm_s)
    else:
        with session.request_pool(requests) as pool:
            iters, warm_s = _warm_up_pool(pool, prepared, spec.run, progress)
            outcome = _measure_pool(sc, pool, prepared, length, until, progress)
            outcome.warmup_iterations, outcome.warmup_s = iters, warm_s
            outcome.environment["mechanism"] = pool.mechanism
            # Several requests that the engine runs one at a time are not "in flight".
            outcome.flags += ["requests-serialized"] if pool.serialized else []
    _label(spec, session, requests, outcome)
    return outcome


def _warm_up_pool(pool: RequestPool, prepared: list[Any], length: RunLength,
                  progress: Progress | None) -> tuple[int, float]:
    """Warm-up with every request busy: `warmup_iterations` AND `warmup_s`, capped as
    `harness.warm_up` is at `max_duration_s`."""
    warm = RunLength(min_iterations=length.warmup_iterations, min_duration_s=length.warmup_s,
                     max_duration_s=length.max_duration_s)
    if progress:
        progress("warmup", 0.0, 0)
    m = harness.measure_offline(pool, prepared, warm)
    return int(m.samples_ns.size), m.wall_s


def _measure_pool(sc: Scenario, pool: RequestPool, prepared: list[Any], length: RunLength, until: bool,
                  progress: Progress | None) -> Outcome:
    rng = np.random.default_rng(sc.seed)
    if sc.name == "offline":
        return Outcome(harness.measure_offline(pool, prepared, length, progress=progress,
                                               until_stable=until), 0, 0.0)
    if not sc.find_peak:
        m = harness.measure_server(pool, prepared, length, cast(float, sc.target_qps), rng, progress=progress,
                                   until_stable=until)
        return Outcome(m, 0, 0.0, {"target_qps": sc.target_qps})
    # `check` refused a server scenario without its target rate or latency bound.
    search = find_peak(pool, prepared, length, cast(float, sc.latency_bound_ms), rng, sc.peak_steps,
                       sc.peak_tolerance_pct, progress=progress)
    m = search.measurement
    return Outcome(m, 0, 0.0, {"peak_qps": search.peak_qps, "capacity_qps": search.capacity_qps,
                               "peak_steps": len(search.steps), "target_qps": m.extra.get("target_qps")},
                   {"find_peak": {"steps": search.steps, "converged": search.converged,
                                  "capacity_qps": search.capacity_qps, "peak_qps": search.peak_qps,
                                  "tolerance_pct": sc.peak_tolerance_pct, "max_steps": sc.peak_steps}})


def _label(spec: JobSpec, session: Session, requests: int, out: Outcome) -> None:
    """Scenario numbers into the metrics, words into the environment."""
    sc, m = spec.scenario, out.measurement
    n = int(m.samples_ns.size)
    cfg = session.resolved_config()
    streams = cfg.get("num_streams", cfg.get("streams"))
    metrics = {"batch": sc.batch, "requests_in_flight": requests,
               "streams": streams if isinstance(streams, int) else None,
               "inferences_per_s": n / m.wall_s if m.wall_s > 0 else None,
               "samples_per_s": n * sc.batch / m.wall_s if m.wall_s > 0 else None,
               **{k: v for k, v in m.extra.items() if not isinstance(v, (dict, list))}, **out.metrics}
    metrics.update(_bound_metrics(sc, m))
    if sc.until_stable_pct is not None:
        metrics["until_stable_pct"] = sc.until_stable_pct
        metrics.setdefault("early_stopping_min_queries",
                           early_stopping_min_queries(reported_percentile(sc.name)))
    out.metrics = metrics
    out.environment.update({
        "name": sc.name, "batch": sc.batch, "requests_in_flight": requests, "streams": streams,
        "label": label(sc.name, sc.batch, requests if sc.name != "single-stream" else None,
                       metrics.get("target_qps"), metrics.get("peak_qps"), sc.find_peak),
        "latency_kind": LATENCY_KINDS[sc.name].format(n=requests), "seed": sc.seed,
        "reported_percentile": reported_percentile(sc.name), "stopped_by": m.stopped_by})
    out.environment.setdefault("mechanism", "synchronous infer, one at a time")


def _bound_metrics(sc: Scenario, m: Measurement) -> dict[str, Any]:
    """Queries over the latency bound, and whether MLPerf's early stopping vouches for p99."""
    if sc.latency_bound_ms is None or m.samples_ns.size == 0:
        return {}
    missed = int(np.count_nonzero(m.samples_ns > sc.latency_bound_ms * 1e6))
    need = early_stopping_min_queries(reported_percentile(sc.name), missed)
    return {"latency_bound_ms": sc.latency_bound_ms, "queries_missed": missed,
            "queries_missed_pct": 100.0 * missed / m.samples_ns.size,
            "early_stopping_min_queries": need, "early_stopping_met": int(m.samples_ns.size >= need)}


def scenario_options(engine, scenario: Scenario, raw: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The engine options a job runs with: the engine's defaults for the scenario, then the
    job's own. Returns (options, the defaults that applied)."""
    defaults = {k: v for k, v in engine.scenario_options(scenario.name).items() if k not in raw}
    return {**defaults, **raw}, defaults

