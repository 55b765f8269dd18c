"""How fast the scheduler decides and how fast a large study enters the queue.

Scheduling (pure, in memory): a fleet of D devices (10,000) and a queue of J jobs (100,000)
shaped like a lab's: 40 % of the devices are CPU boards with onnxruntime + openvino, 40 %
Jetsons with tensorrt + onnxruntime, 20 % NPU boards with onnxruntime only; 60 studies in
three priority classes; half the studies pin each job to one device (`spread: each`), half let
it run on any device of a tag (`spread: any`, pools of 2,000-4,000 devices); a few percent of
the jobs are in retry backoff or avoid a device; 30 % of the devices hold a last artifact.

- full pass: one `schedule()` with every device free (the first pass after a restart, the
  worst case): its time, the leases it makes, assignments per second;
- drain: passes until the queue is empty, every leased job finishing between two passes (the
  steady state): total assignments / total time spent in `schedule()`;
- memory: the peak of Python allocations during a full pass (tracemalloc, in a separate
  pass, since tracing slows it down) and the process's peak RSS.

Enqueue (database): a study of N jobs (100,000) expanded from one JobSpec template the way
`bench submit` does (`orchestrator.plan.expand`), then `results.queue.enqueue` (one transaction,
bulk inserts) on a SQLite file and on PostgreSQL (a scratch database on the server of
`--pg-url`, dropped afterwards); also how long the dispatcher's read of the queue takes.

Targets (issue 4): >= 50,000 assignments/s and a full pass <= 2 s.

Reproduce, from the repository root:

    .venv/bin/python benchmarks/scheduler_throughput.py --out build/perf/scheduler_throughput.json
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import markdown_table, positive_int, write_json  # noqa: E402
from orchestrator.execute.scheduler import DeviceState, Lease, QueuedJob, schedule  # noqa: E402

KINDS = [("cpu", frozenset({"onnxruntime", "openvino"}), 0.4),
         ("jetson", frozenset({"tensorrt", "onnxruntime"}), 0.4),
         ("npu", frozenset({"onnxruntime"}), 0.2)]


def fleet(n: int, rng: random.Random) -> tuple[list[DeviceState], dict[str, list[str]]]:
    """n devices of the three kinds; returns them and tag -> device names."""
    devices, tags = [], {k: [] for k, _, _ in KINDS}
    start = 0
    for kind, engines, share in KINDS:
        count = round(n * share) if kind != KINDS[-1][0] else n - start
        for i in range(count):
            name = f"{kind}-{i:05d}"
            artifact = f"a{rng.randrange(200)}" if rng.random() < 0.3 else ""
            devices.append(DeviceState(name, engines, healthy=rng.random() > 0.01, last_artifact=artifact))
            tags[kind].append(name)
        start += count
    return devices, tags


def queue_of(n_jobs: int, tags: dict[str, list[str]], rng: random.Random) -> list[QueuedJob]:
    """n_jobs jobs of 60 studies, in queue order (class, then enqueue order)."""
    kinds = {kind: engines for kind, engines, _ in KINDS}
    pools = {k: frozenset(names) for k, names in tags.items()}
    singles: dict[str, frozenset[str]] = {}
    jobs = []
    per_study = n_jobs // 60
    for s in range(60):
        kind = list(tags)[s % 3]
        engine = sorted(kinds[kind])[s % len(kinds[kind])]
        pinned = s % 2 == 0
        for i in range(per_study if s < 59 else n_jobs - 59 * per_study):
            if pinned:
                name = tags[kind][rng.randrange(len(tags[kind]))]
                pool = singles.setdefault(name, frozenset({name}))
            else:
                pool = pools[kind]
            backoff = 1e9 if rng.random() < 0.02 else 0.0
            avoid = frozenset({tags[kind][0]}) if rng.random() < 0.02 else frozenset()
            jobs.append(QueuedJob(f"s{s}-{i}", f"study-{s}", engine, pool, s % 3,
                                  f"a{rng.randrange(200)}", backoff, avoid))
    jobs.sort(key=lambda j: j.priority)  # stable: enqueue order within a class
    return jobs


def full_pass(jobs, devices) -> dict[str, Any]:
    """The best of 3 passes with every device free."""
    best = None
    for _ in range(3):
        t0 = time.perf_counter()
        leases = schedule(jobs, devices, [], now=0.0)
        dt = time.perf_counter() - t0
        best = dt if best is None or dt < best else best
    return {"pass_s": best, "assignments": len(leases), "assignments_per_s": len(leases) / best}


def drain(jobs, devices) -> dict[str, Any]:
    """Passes until nothing more can start; every leased job finishes before the next pass."""
    queued = [j for j in jobs if j.not_before == 0.0]
    total, spent, passes = 0, 0.0, 0
    last = {d.name: d for d in devices}
    while queued:
        t0 = time.perf_counter()
        leases = schedule(queued, list(last.values()), [], now=0.0)
        spent += time.perf_counter() - t0
        if not leases:
            break
        passes, total = passes + 1, total + len(leases)
        started = {l.job_id for l in leases}
        queued = [j for j in queued if j.id not in started]
    return {"passes": passes, "assignments": total, "schedule_s": spent,
            "assignments_per_s": total / spent if spent else None, "left_unrunnable": len(queued)}


def memory(jobs, devices) -> dict[str, Any]:
    """Peak Python allocations of one pass (traced) and the process's peak RSS."""
    tracemalloc.start()
    schedule(jobs, devices, [Lease("x", devices[0].name, 1.0)], now=0.0)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"pass_peak_alloc_mib": peak / 2**20,
            "process_peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def enqueue_rate(url: str, n: int) -> dict[str, Any]:
    """Expand a study of n jobs from one template and enqueue it; also read the queue back."""
    from orchestrator.plan.expand import Prepared, Template, expand
    from orchestrator.plan.study import ModelEntry, Study
    from results import queue
    from results.db import open_db
    from results.models import Study as StudyRow
    from inventory.model import Device

    template = Template(spec=_template_spec(), engine="onnxruntime", artifact="k")
    devices = [Device(name=f"d{i:05d}") for i in range(n // 10)]
    config = Study(models=[ModelEntry(Path("m.onnx"))], devices=["all"], engines=["onnxruntime"])
    prepared = Prepared(config, [("all", devices)], [template] * 10)  # 10 variants x n/10 devices
    db = open_db(url)
    t0 = time.perf_counter()
    items, _ = expand(prepared, "bench", {d.name: frozenset({"onnxruntime"}) for d in devices})
    t1 = time.perf_counter()
    queue.enqueue(db, StudyRow(id=uuid.uuid4().hex[:12], name="bench"), items, 1, time.time())
    t2 = time.perf_counter()
    rows = queue.queued(db)
    t3 = time.perf_counter()
    db.dispose()
    return {"jobs": len(items), "expand_s": t1 - t0, "enqueue_s": t2 - t1,
            "enqueue_jobs_per_s": len(items) / (t2 - t1), "read_queue_s": t3 - t2, "read_rows": len(rows)}


def _template_spec() -> dict[str, Any]:
    from agents.spec import JobSpec, ModelRef, Variant
    spec = JobSpec(job_id="t", model=ModelRef("/models/resnet.onnx", "ab" * 32, 1_000_000, name="resnet"),
                   variant=Variant("onnxruntime", "fp32", {"threads": 4}))
    return json.loads(spec.to_json())


def pg_scratch(base: str):
    """A scratch database on the server of `base`: (its URL, an admin engine, its name)."""
    import sqlalchemy as sa
    name = f"bench_sched_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    return base.rsplit("/", 1)[0] + f"/{name}", admin, name


def main(argv: list[str] | None = None) -> int:
    """Run the measurements and print a table (and JSON with --out)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--devices", type=positive_int, default=10_000)
    ap.add_argument("--jobs", type=positive_int, default=100_000)
    ap.add_argument("--db-jobs", type=positive_int, default=100_000, help="jobs of the enqueued study")
    ap.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    ap.add_argument("--no-pg", action="store_true")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    tracemalloc.start()
    devices, tags = fleet(args.devices, rng)
    jobs = queue_of(args.jobs, tags, rng)
    inputs_mib = tracemalloc.get_traced_memory()[0] / 2**20
    tracemalloc.stop()
    result: dict[str, Any] = {"devices": len(devices), "jobs": len(jobs),
                              "full_pass": full_pass(jobs, devices), "drain": drain(jobs, devices),
                              "memory": {"queue_and_fleet_mib": inputs_mib, **memory(jobs, devices)}}
    with tempfile.TemporaryDirectory() as tmp:
        result["enqueue_sqlite"] = enqueue_rate(f"sqlite:///{tmp}/q.db", args.db_jobs)
    if not args.no_pg:
        url, admin, name = pg_scratch(args.pg_url)
        try:
            result["enqueue_postgresql"] = enqueue_rate(url, args.db_jobs)
        finally:
            import sqlalchemy as sa
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    _print(result)
    write_json(args.out, result)
    return 0


def _print(r: dict[str, Any]) -> None:
    fp, dr, mem = r["full_pass"], r["drain"], r["memory"]
    print(f"scheduler: {r['devices']:,} devices, {r['jobs']:,} queued jobs")
    print(markdown_table(["measure", "value"], [
        ["full pass (all devices free), s", fp["pass_s"]],
        ["assignments in the full pass", fp["assignments"]],
        ["assignments/s, full pass", f"{fp['assignments_per_s']:,.0f}"],
        ["drain: passes / assignments", f"{dr['passes']} / {dr['assignments']:,}"],
        ["assignments/s, drain", f"{dr['assignments_per_s']:,.0f}"],
        ["queued jobs + devices held in memory, MiB", mem["queue_and_fleet_mib"]],
        ["peak allocations in a pass, MiB", mem["pass_peak_alloc_mib"]],
        ["process peak RSS, MiB", mem["process_peak_rss_mib"]],
    ]))
    for key in ("enqueue_sqlite", "enqueue_postgresql"):
        if key in r:
            e = r[key]
            print(f"\n{key}: {e['jobs']:,} jobs: expand {e['expand_s']:.2f} s, enqueue {e['enqueue_s']:.2f} s "
                  f"({e['enqueue_jobs_per_s']:,.0f} jobs/s), read queue {e['read_queue_s']:.2f} s")


if __name__ == "__main__":
    sys.exit(main())
