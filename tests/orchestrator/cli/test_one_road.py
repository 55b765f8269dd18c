"""`bench run` and `bench submit --wait` take one road (plan, enqueue, execute, store): for the
same study they store the same jobs and the same kind of runs, and `bench run`'s jobs end
`done` in the queue like any other."""

import json
import sqlite3

FAST = ["--warmup", "0.05", "--duration", "0.3", "--iterations", "20", "--threads", "1"]
ENGINES = ["-e", "onnxruntime,openvino"]
TIMING_FLAGS = {"noisy", "unstable", "throttled"}  # depend on this machine's load, not the road
TIMING_KEYS = {"unstable_reasons"}  # in `environment` only when a timing flag is set


def _runs(bench, db, cwd):
    out = bench("results", "--db", str(db), "-f", "json", "-n", "0", cwd=cwd)
    assert out.returncode == 0, out.stderr
    return {r["job"]["variant"]["engine"]: r for r in json.loads(out.stdout)}


def test_run_and_submit_wait_store_the_same_runs(tmp_path, bench, model_file, monkeypatch):
    for name in ("BENCH_INVENTORY", "BENCH_SERVER"):  # submit's devices: the built-in `local`, as run's
        monkeypatch.delenv(name, raising=False)
    model = str(model_file("mlp"))
    ran = bench("run", model, *ENGINES, *FAST, "--db", str(tmp_path / "a.db"), cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    sub = bench("submit", model, *ENGINES, *FAST, "--wait", "--db", str(tmp_path / "b.db"), cwd=tmp_path)
    assert sub.returncode == 0, sub.stderr
    a, b = _runs(bench, tmp_path / "a.db", tmp_path), _runs(bench, tmp_path / "b.db", tmp_path)
    assert sorted(a) == sorted(b) == ["onnxruntime", "openvino"]
    for engine in a:
        ra, rb = a[engine], b[engine]
        ja, jb = ({k: v for k, v in r["job"].items() if k not in ("job_id", "study_id")} for r in (ra, rb))
        assert ja == jb, engine
        assert ra["status"] == rb["status"] == "ok"
        assert set(ra["environment"]) - TIMING_KEYS == set(rb["environment"]) - TIMING_KEYS
        assert set(ra["metrics"]) == set(rb["metrics"])
        assert ra["latencies"]["count"] == ra["metrics"]["iterations"]
        assert set(ra["flags"]) - TIMING_FLAGS == set(rb["flags"]) - TIMING_FLAGS
    states = sqlite3.connect(tmp_path / "a.db").execute("SELECT state FROM job").fetchall()
    assert states == [("done",), ("done",)]
