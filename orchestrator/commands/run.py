"""`bench run`: benchmark one model on this machine, variant by variant, and store every run.
(Being replaced by the queue road: plan.knobs -> enqueue -> execute.run_study.)

`plan` validates everything and builds the JobSpecs without side effects; `execute` stores the
study and its jobs, runs each job through the transport and ingests each RunResult as it
arrives, so a run that finished is stored even if a later one fails.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from agents.spec import JobSpec, PowerSpec, RunLength, RunResult
from orchestrator.plan import jobs
from orchestrator.plan.jobs import available_engines, check_names  # noqa: F401  (the old CLI)
from orchestrator.plan.scenarios import LoadFlags
from orchestrator.plan.study import ModelEntry, Study as PlanStudy
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


def to_study(req: RunRequest) -> PlanStudy:
    """The request as a plan `Study` (one model, this machine)."""
    return PlanStudy(models=[ModelEntry(req.model, shapes=req.shapes, files=req.input_files, npz=req.npz,
                                        calibration=req.calibration)],
                     devices=[req.device], engines=req.engines, precisions=req.precisions,
                     scenarios=list(req.load.scenarios),
                     batch_sizes=list(req.load.batches) if req.load.batches else None,
                     load={k: v for k, v in vars(req.load).items()
                           if k not in ("scenarios", "batches")},
                     threads=req.threads, options=req.options, length=req.length, power=req.power,
                     max_attempts=1, name=f"run {req.model.name}", source="bench run",
                     strict=req.strict, max_accuracy_drop=req.max_accuracy_drop,
                     accuracy_check=req.accuracy_check, cache_dir=req.cache_dir)


def plan(req: RunRequest) -> tuple[Study, list[JobSpec]]:
    """Validate the request and build one JobSpec per (engine, precision, batch, scenario);
    no side effects (plan.jobs.plan).

    Raises:
        UserError: any bad input, as one line.
    """
    study = Study(id=uuid.uuid4().hex[:12], name=f"run {req.model.name}", source="bench run")
    config = to_study(req)
    specs = jobs.plan(config, config.models[0], study.id)
    study.spec = {"model": specs[0].model.path if specs else str(req.model), "engines": req.engines,
                  "precisions": req.precisions, "scenarios": list(req.load.scenarios),
                  "batches": sorted({s.scenario.batch for s in specs})}
    return study, specs


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
