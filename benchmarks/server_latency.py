"""`bench serve`: time from `bench submit --server` to the first job running, and GET /v1/runs
throughput and latency with 100,000 runs stored, on SQLite and on PostgreSQL.

Submit to first job: a server with its dispatcher (default `--poll 1`) over the device
`local`, probed before the first submission; each round spawns `bench submit MODEL --server
URL` (a new CLI process: interpreter start, upload check, study creation) and reads, from the
database, when the dispatcher claimed the study's first job (`job.started_s`, on the same
clock). Rounds run one after another on an idle device. Reported: the whole span and the
server's part (study row written -> job claimed).

GET /v1/runs: a scratch database filled with N runs (1,000 jobs x N/1,000 attempts, each with
a real RunResult's JSON and a 1,000-sample latency blob), an API-only server (`--no-worker`,
access log off), and a load generator in a second process on loopback: C keep-alive
connections (asyncio, raw HTTP/1.1) sending the same request back to back for D seconds.
Two requests: the newest 100 runs (`?limit=100`), and the newest 100 of one device
(`?device=dev-7&limit=100`, an indexed filter). Reported: requests/s, p50, p99, errors; and,
before the load, the mean latency of requests sent one at a time. Client and server share the
machine's cores.

Reproduce, from the repository root (PostgreSQL on 127.0.0.1:5432):

    .venv/bin/python benchmarks/server_latency.py --out build/perf/server_latency.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import BIN, markdown_table, median, one_line_errors, positive_int, write_json  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def scratch_db(kind: str, pg_url: str, tmp: Path) -> tuple[str, Any]:
    """A new database: a SQLite file, or a database on the PostgreSQL server (and its dropper)."""
    if kind == "sqlite":
        return f"sqlite:///{tmp / 'bench.db'}", lambda: None
    import sqlalchemy as sa
    name = f"bench_perf_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    return pg_url.rsplit("/", 1)[0] + f"/{name}", drop


def serve(db: str, store: Path, *args: str) -> tuple[subprocess.Popen, str]:
    """Start `bench serve --port 0`; returns the process and its URL once /healthz answers."""
    import httpx
    proc = subprocess.Popen([str(BIN / "bench"), "serve", "--db", db, "--port", "0", "--models", str(store),
                             "--log-level", "warning", *args], stdout=subprocess.PIPE, text=True)
    url = proc.stdout.readline().split()[2]
    for _ in range(600):
        try:
            if httpx.get(f"{url}/healthz", timeout=5).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    return proc, url


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM, then wait."""
    proc.terminate()
    proc.wait(120)


def token(db: str) -> str:
    """A write token on `db`."""
    from results.auth import create_token
    from results.db import open_db
    engine = open_db(db)
    plain = create_token(engine, f"perf-{uuid.uuid4().hex[:6]}")[1]
    engine.dispose()
    return plain


# --- submit -> first job running ---------------------------------------------------------

def submit_to_first_job(db: str, tmp: Path, rounds: int) -> dict[str, Any]:
    """Spawn `bench submit --server` `rounds` times; seconds until the first job is claimed."""
    import httpx
    import sqlalchemy as sa

    import zoo
    model = zoo.save("mlp", tmp / "mlp.onnx", batch=1)
    tok = token(db)
    proc, url = serve(db, tmp / "models")
    engine = sa.create_engine(db)
    spans, server_part = [], []
    try:
        h = {"Authorization": f"Bearer {tok}"}
        while not httpx.get(f"{url}/v1/devices", headers=h).json()[0]["engines"]:
            time.sleep(0.2)  # the dispatcher probes `local` first
        env = {**os.environ, "BENCH_TOKEN": tok}
        for _ in range(rounds):
            t0 = time.time()
            out = subprocess.run([str(BIN / "bench"), "submit", str(model), "--server", url, "--engines",
                                  "onnxruntime", "--warmup", "0.05", "--duration", "0.2", "--iterations", "10"],
                                 capture_output=True, text=True, env=env, timeout=120)
            if out.returncode:
                raise RuntimeError(f"bench submit failed: {out.stderr.strip()}")
            study = out.stdout.split("queued study ")[1].split()[0]
            started, created = _first_claim(engine, study)
            spans.append(started - t0)
            server_part.append(started - created)
            while httpx.get(f"{url}/v1/studies/{study}", headers=h).json()["counts"] != {"done": 1}:
                time.sleep(0.1)
    finally:
        stop(proc)
        engine.dispose()
    return {"rounds": rounds, "submit_to_first_job_s": spans, "server_part_s": server_part,
            "median_s": median(spans), "median_server_s": median(server_part)}


def _first_claim(engine, study: str) -> tuple[float, float]:
    import sqlalchemy as sa
    for _ in range(3000):
        with engine.connect() as conn:
            row = conn.execute(sa.text("SELECT min(j.started_s), min(s.created_at) FROM job j JOIN study s "
                                       "ON s.id = j.study_id WHERE j.study_id = :s"), {"s": study}).first()
        if row[0] is not None:
            created = row[1]
            if isinstance(created, str):
                from datetime import datetime, timezone
                created = datetime.fromisoformat(created).replace(tzinfo=timezone.utc)
            elif created.tzinfo is None:
                from datetime import timezone
                created = created.replace(tzinfo=timezone.utc)
            return row[0], created.timestamp()
        time.sleep(0.01)
    raise RuntimeError(f"study {study}: no job started within 30 s")


# --- GET /v1/runs under load ---------------------------------------------------------------

def fill(db: str, n_runs: int, sample: dict[str, Any], blob: bytes) -> float:
    """Store `n_runs` runs (1,000 jobs); returns the seconds it took."""
    import sqlalchemy as sa

    from results.db import open_db
    from results.models import Job, Run, Study, utcnow
    engine = open_db(db)
    t0, now = time.time(), utcnow()
    jobs = 1000
    with engine.begin() as conn:
        conn.execute(sa.insert(Study.__table__), [{"id": "perf", "name": "perf", "source": "perf",
                                                   "spec": {}, "created_at": now}])
        conn.execute(sa.insert(Job.__table__), [
            {"id": f"job{j:05d}", "study_id": "perf", "device": f"dev-{j % 50}", "engine": "onnxruntime",
             "precision": "fp32", "scenario": "single-stream", "model_sha256": "ab" * 32, "state": "done",
             "attempts": 1, "spec": {}, "created_at": now, "updated_at": now, "position": j}
            for j in range(jobs)])
    per_job = n_runs // jobs
    for start in range(0, per_job, 10):
        rows = [{"job_id": f"job{j:05d}", "attempt": a + 1, "status": "ok", "device": f"dev-{j % 50}",
                 "engine": "onnxruntime", "engine_version": "1.20", "precision": "fp32",
                 "scenario": "single-stream", "model_name": "mlp", "model_sha256": "ab" * 32,
                 "series_key": f"s{j:05d}", "batch": 1, "input_shapes": {"input": [1, 256]},
                 "latency_p50_ms": 0.05 + a * 1e-4, "latency_p99_ms": 0.09, "throughput_ips": 2e4,
                 "iterations": 1000, "flags": [], "metrics": sample["metrics"], "result": sample,
                 "latencies": blob, "result_schema_version": 2, "created_at": now}
                for a in range(start, min(start + 10, per_job)) for j in range(jobs)]
        with engine.begin() as conn:
            conn.execute(sa.insert(Run.__table__), rows)
    engine.dispose()
    return time.time() - t0


def sample_run() -> tuple[dict[str, Any], bytes]:
    """A real RunResult (the zoo MLP on ONNX Runtime, 1,000 iterations) as stored."""
    import base64

    from agents.spec import RunResult
    with tempfile.TemporaryDirectory() as tmp:
        import zoo
        model = zoo.save("mlp", Path(tmp) / "mlp.onnx", batch=1)
        out = subprocess.run([str(BIN / "bench"), "run", str(model), "--engine", "onnxruntime", "--duration",
                              "0.1", "--iterations", "1000", "--warmup", "0.05", "--json", "--db",
                              str(Path(tmp) / "b.db")], capture_output=True, text=True, timeout=300)
    result = RunResult.from_dict(json.loads(out.stdout)[0]).to_dict()
    blob = base64.b64decode(result["latencies"].pop("data"))
    return result, blob


def load(url: str, path: str, tok: str, connections: int, duration_s: float, queue: mp.Queue) -> None:
    """(Child process) send GET `path` on `connections` keep-alive connections for `duration_s`."""
    queue.put(asyncio.run(_load(url, path, tok, connections, duration_s)))


async def _load(url: str, path: str, tok: str, connections: int, duration_s: float) -> dict[str, Any]:
    host, port = url.split("//")[1].split(":")
    request = (f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {tok}\r\n\r\n").encode()
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + duration_s

    async def one_connection() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, int(port))
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(next(l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")))
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - t0)
            if not head.startswith(b"HTTP/1.1 200"):
                errors += 1
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*[one_connection() for _ in range(connections)])
    elapsed = time.perf_counter() - started
    latencies.sort()
    n = len(latencies)
    return {"requests": n, "errors": errors, "elapsed_s": elapsed, "rps": n / elapsed,
            "p50_ms": latencies[n // 2] * 1e3, "p99_ms": latencies[min(n - 1, int(n * 0.99))] * 1e3}


def runs_under_load(db: str, tmp: Path, n_runs: int, connections: int, duration_s: float,
                    sample: tuple[dict, bytes]) -> dict[str, Any]:
    """Fill the database, start an API-only server, load it from a second process."""
    filled = fill(db, n_runs, *sample)
    tok = token(db)
    proc, url = serve(db, tmp / "models", "--no-worker")
    out: dict[str, Any] = {"runs_stored": n_runs, "fill_s": filled}
    try:
        out["one_at_a_time_ms"] = one_at_a_time(url, tok)
        ctx = mp.get_context("spawn")
        for name, path in (("newest_100", "/v1/runs?limit=100"), ("device_100", "/v1/runs?device=dev-7&limit=100")):
            q = ctx.Queue()
            child = ctx.Process(target=load, args=(url, path, tok, connections, 2.0, q))
            child.start()
            q.get()  # warm-up round (caches, connections)
            child.join()
            child = ctx.Process(target=load, args=(url, path, tok, connections, duration_s, q))
            child.start()
            out[name] = q.get()
            child.join()
    finally:
        stop(proc)
    return out


def one_at_a_time(url: str, tok: str, n: int = 50) -> dict[str, float]:
    """Mean latency of requests sent one after another on one keep-alive connection (ms)."""
    import httpx
    out = {}
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {tok}"}) as c:
        for path in ("/healthz", "/v1/runs?limit=1", "/v1/runs?limit=100", "/v1/runs?device=dev-7&limit=100"):
            size = len(c.get(path).content)
            t0 = time.perf_counter()
            for _ in range(n):
                c.get(path)
            out[path] = {"mean_ms": (time.perf_counter() - t0) / n * 1e3, "bytes": size}
    return out


def measure(args: argparse.Namespace) -> int:
    """Both measurements on both databases; prints markdown tables."""
    sample = sample_run()
    report: dict[str, Any] = {"runs": args.runs, "connections": args.connections, "duration_s": args.duration}
    for kind in args.databases:
        for what in ("submit", "runs"):
            with tempfile.TemporaryDirectory() as tmp:
                db, drop = scratch_db(kind, args.pg_url, Path(tmp))
                try:
                    if what == "submit":
                        report[f"{kind}_submit"] = submit_to_first_job(db, Path(tmp), args.rounds)
                    else:
                        report[f"{kind}_runs"] = runs_under_load(db, Path(tmp), args.runs, args.connections,
                                                                 args.duration, sample)
                finally:
                    drop()
    rows = [(k, f"{report[f'{k}_submit']['median_s']:.3f}", f"{report[f'{k}_submit']['median_server_s']:.3f}",
             f"{min(report[f'{k}_submit']['submit_to_first_job_s']):.3f}",
             f"{max(report[f'{k}_submit']['submit_to_first_job_s']):.3f}") for k in args.databases]
    print(markdown_table(["database", "submit -> first job, median s", "server part, median s", "min s", "max s"], rows))
    rows = [(k, name, f"{r['rps']:.0f}", f"{r['p50_ms']:.1f}", f"{r['p99_ms']:.1f}", r["errors"])
            for k in args.databases for name in ("newest_100", "device_100")
            for r in [report[f"{k}_runs"][name]]]
    print()
    print(markdown_table(["database", "request", "requests/s", "p50 ms", "p99 ms", "errors"], rows))
    rows = [(k, path, f"{v['mean_ms']:.2f}", v["bytes"]) for k in args.databases
            for path, v in report[f"{k}_runs"]["one_at_a_time_ms"].items()]
    print()
    print(markdown_table(["database", "request, one at a time", "mean ms", "response bytes"], rows))
    write_json(args.out, report)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=positive_int, default=100_000, help="runs stored (multiple of 1,000)")
    ap.add_argument("--rounds", type=positive_int, default=7, help="submissions timed per database")
    ap.add_argument("--connections", type=positive_int, default=8, help="keep-alive connections of the load")
    ap.add_argument("--duration", type=float, default=15.0, help="seconds of load per request")
    ap.add_argument("--databases", nargs="+", default=["sqlite", "postgres"], choices=["sqlite", "postgres"])
    ap.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    ap.add_argument("--out", type=Path)
    return one_line_errors(measure, ap.parse_args())


if __name__ == "__main__":
    sys.exit(main())
