"""The speed half of benchmarks/regression_quality.py: a SQLite nightly history built in bulk,
and the time of the nightly's compare stage over it.

The database holds, for each of N series (N model names, one device, onnxruntime fp32):
B baseline runs filed under an earlier nightly (run rows with a small JSON, series_run rows
with toolchain, device state, per-run values and a 64-point reference sample), and tonight's
run in one study (a real RunResult's JSON, 1,000 raw samples). Tonight's run of one series
in ten is 10 % slower.
"""

from __future__ import annotations

import copy
import os
import time
import uuid
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import insert
from sqlalchemy.engine import Engine

from agents.runner import sha256_file
from agents.spec import JobSpec, ModelRef, RunLength, RunResult, Variant
import zoo
from orchestrator.nightly.judge import judge, settle
from orchestrator.nightly.run import collect, store
from orchestrator.nightly.suite import Suite
from orchestrator.plan.study import Study
from orchestrator.transports.local import LocalTransport
from results import verdicts
from results.baseline import device_state, reference_sample, series_title, suite_series, toolchain
from results.compare import run_values
from results.db import open_db
from results.models import Job, Run, Study, utcnow
from results.verdicts import SeriesRun

SAMPLES = 1000
_CHUNK = 5000


def template(tmp: Path) -> RunResult:
    """One real run of the zoo mlp: the JSON every synthetic run copies."""
    path = zoo.save("mlp", tmp / "mlp.onnx")
    spec = JobSpec(job_id="template", model=ModelRef(str(path), sha256_file(path), name="mlp"),
                   variant=Variant("onnxruntime", options={"threads": 1}),
                   run=RunLength(warmup_s=0.1, min_duration_s=0.2, min_iterations=50))
    result = LocalTransport().run(spec)
    if result.status != "ok":
        raise RuntimeError(f"template run: {result.status}: {result.error}")
    return result


def _samples(rng: np.random.Generator, median_ms: float) -> np.ndarray:
    return median_ms * np.exp(rng.normal(0, 0.05, SAMPLES))


def build_db(path: Path, series: int, baseline_runs: int) -> tuple[Engine, str, str]:
    """The database (see the module docstring). Returns (engine, suite name, tonight's study)."""
    engine = verdicts.ensure(open_db(f"sqlite:///{path}"))
    base = template(path.parent)
    rng = np.random.default_rng(0)
    suite, history, tonight = "speed", "history", "tonight"
    now = time.time()
    with engine.begin() as conn:
        conn.execute(insert(Study.__table__), [
            {"id": s, "name": s, "source": "benchmark", "spec": {}, "created_at": utcnow()} for s in (history, tonight)])
    t0 = time.monotonic()
    for first in range(0, series, 500):
        jobs, runs, members = [], [], []
        for i in range(first, min(series, first + 500)):
            spec = copy.deepcopy(base.job)
            spec.model.name = f"m{i:05d}"
            key, title = suite_series(spec), series_title(spec)
            median = 0.05 * (1 + i % 37 / 37)
            for b in range(baseline_runs):
                job_id = uuid.uuid4().hex[:16]
                jobs.append(_job(job_id, history, spec))
                runs.append(_run(job_id, spec, key, {}, None))
                members.append({"suite": suite, "series": key, "title": title, "nightly_id": "history",
                                "role": "night", "created_s": now, "model_sha256": spec.model.sha256,
                                "good": True, "new_baseline": b == 0, "toolchain": toolchain(base),
                                "device_state": device_state(base), **run_values(base.metrics),
                                "sample": reference_sample(_samples(rng, median)), "job_id": job_id})
            job_id = uuid.uuid4().hex[:16]
            tonight_spec = copy.deepcopy(spec)
            tonight_spec.job_id, tonight_spec.study_id = job_id, tonight
            result = copy.deepcopy(base)
            result.job_id, result.job = job_id, tonight_spec
            samples = _samples(rng, median * (1.10 if i % 10 == 0 else 1.0))
            result.set_latencies_ns((samples * 1e6).astype(np.int64))
            jobs.append(_job(job_id, tonight, tonight_spec))
            runs.append(_run(job_id, tonight_spec, key, result.to_dict(), samples))
        _insert(engine, jobs, runs, members)
    print(f"  built {series} series x {baseline_runs} baseline runs in {time.monotonic() - t0:.0f} s", flush=True)
    return engine, suite, tonight


def _job(job_id: str, study: str, spec: JobSpec) -> dict[str, Any]:
    stamp = utcnow()
    return {"id": job_id, "study_id": study, "device": spec.device, "engine": spec.variant.engine,
            "precision": spec.variant.precision, "scenario": spec.scenario.name,
            "model_sha256": spec.model.sha256, "state": "done", "attempts": 1, "spec": {},
            "created_at": stamp, "updated_at": stamp, "position": 0, "cancel_requested": False}


def _run(job_id: str, spec: JobSpec, key: str, result: dict, samples: np.ndarray | None) -> dict[str, Any]:
    blob = None
    if samples is not None:
        blob = zlib.compress((samples * 1e6).astype("<i8").tobytes())
        result = {**result, "latencies": {k: v for k, v in result["latencies"].items() if k != "data"}}
    return {"job_id": job_id, "attempt": 1, "status": "ok", "device": spec.device,
            "engine": spec.variant.engine, "precision": spec.variant.precision,
            "scenario": spec.scenario.name, "model_name": spec.model.name,
            "model_sha256": spec.model.sha256, "series_key": key, "batch": 1, "input_shapes": {},
            "flags": [], "metrics": result.get("metrics", {}), "result": result, "latencies": blob,
            "result_schema_version": 2, "created_at": utcnow()}


def _insert(engine: Engine, jobs: list[dict], runs: list[dict], members: list[dict]) -> None:
    with engine.begin() as conn:
        conn.execute(insert(Job.__table__), jobs)
        conn.execute(insert(Run.__table__), runs)
        ids = _ids(conn, jobs)
        rows = [{**{k: v for k, v in m.items() if k != "job_id"}, "run_id": ids[m["job_id"]]} for m in members]
        conn.execute(insert(SeriesRun.__table__), rows)


def _ids(conn, jobs: list[dict]) -> dict[str, int]:
    out = {}
    for start in range(0, len(jobs), 900):
        chunk = [j["id"] for j in jobs[start:start + 900]]
        out.update(dict(conn.exec_driver_sql(
            "SELECT job_id, id FROM run WHERE job_id IN (%s)" % ",".join("?" * len(chunk)), tuple(chunk)).all()))
    return out


def time_compare(engine: Engine, suite: str, study: str, repeat: int) -> dict[str, Any]:
    """Median seconds of the compare stage (collect + baselines + judge) over `repeat` runs,
    and of filing tonight's runs and storing the verdicts once."""
    s = Suite(name=suite, path=Path("speed.yaml"),
              study=Study(models=[], devices=["local"], engines=["onnxruntime"]), runs=30)
    times, cpu, stages, flagged = [], [], [], 0
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        nights = collect(engine, study, s)
        t1 = time.perf_counter()
        found = verdicts.baselines(engine, suite, [n.series for n in nights], s.runs)
        t2 = time.perf_counter()
        for night in nights:
            night.baseline = found.get(night.series, [])
            judge(night)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        stages.append({"collect_s": t1 - t0, "baselines_s": t2 - t1, "judge_s": times[-1] - (t2 - t0)})
        flagged = sum(n.state == "candidate" for n in nights)
        print(f"  compare: {times[-1]:.2f} s wall, {cpu[-1]:.2f} s CPU (collect {t1 - t0:.2f}, "
              f"baselines {t2 - t1:.2f}, judge {times[-1] - (t2 - t0):.2f}), {len(nights)} series, "
              f"{flagged} flagged; load average {os.getloadavg()[0]:.1f}", flush=True)
    t0 = time.perf_counter()
    for night in nights:
        settle(night, confirm=False)
    store(engine, s, "tonight", nights, time.time())
    store_s = time.perf_counter() - t0
    return {"compare_s": float(np.median(times)), "compare_runs_s": times, "cpu_s": cpu,
            "stages": stages, "store_s": store_s,
            "series": len(nights), "flagged": flagged,
            "baseline_runs": min(len(n.baseline) for n in nights)}
