"""Kill the orchestrator (SIGKILL) in the middle of a study and start it again: no job is
lost, none is completed twice, the runs stored before the kill are untouched, and no
benchmark of the dead orchestrator keeps running on a device."""

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _rows(db: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(db, timeout=30)
    try:
        return conn.execute(sql).fetchall()
    except sqlite3.OperationalError:  # tables not there yet
        return []
    finally:
        conn.close()


def _runs(db: Path) -> list[tuple]:
    return _rows(db, "SELECT id, job_id, attempt, status, device, result, latencies FROM run ORDER BY id")


def _agents_of(mark: str) -> list[int]:
    """Live processes that inherited the environment marker (the worker's agent children)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if f"BENCH_TEST_MARK={mark}".encode() in environ and state != "Z":
            found.append(int(pid))
    return found


def _wait_for(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_sigkill_mid_study_then_restart_resumes_exactly_once(tmp_path, lab_file, model_file, bench, fast_flags):
    inv = lab_file({"name": "d0", "cpus": [0], "threads": 1, "tags": ["cpu"]},
                   {"name": "d1", "cpus": [1], "threads": 1, "tags": ["cpu"]})
    db = tmp_path / "q.db"
    common = ["--inventory", str(inv), "--db", str(db)]
    out = bench("submit", str(model_file("mlp")), "--devices", "tag:cpu", "--engines", "onnxruntime,openvino",
                "--scenarios", "single-stream,offline", "--priority", "nightly", *common, *fast_flags)
    assert out.returncode == 0, out.stderr
    study = re.search(r"queued study (\w+).*: 8 job\(s\) on 2 device\(s\)", out.stdout).group(1)

    mark = uuid.uuid4().hex
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BENCH_TEST_MARK": mark}
    worker = subprocess.Popen([sys.executable, "-m", "orchestrator.cli", "worker", "--until-idle",
                               "--poll", "0.1", "--heartbeat", "0.5", *common],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(lambda: len(_runs(db)) >= 2 and _rows(db, "SELECT 1 FROM job WHERE state = 'running'"),
                  90, "two stored runs and a running job")
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    before = _runs(db)
    interrupted = {j for (j,) in _rows(db, "SELECT id FROM job WHERE state IN ('leased', 'running')")}
    assert interrupted, "the kill should have caught a job in flight"
    _wait_for(lambda: not _agents_of(mark), 0.5, "the dead orchestrator's agents to die with it")

    again = subprocess.run([sys.executable, "-m", "orchestrator.cli", "worker", "--until-idle",
                            "--poll", "0.1", *common], env=env, capture_output=True, text=True, timeout=180)
    assert again.returncode == 0, again.stderr[-2000:]

    after = _runs(db)
    assert after[:len(before)] == before  # stored runs untouched
    jobs = dict(_rows(db, f"SELECT id, state FROM job WHERE study_id = '{study}'"))
    assert len(jobs) == 8 and set(jobs.values()) == {"done"}  # none lost
    ok = [r[1] for r in after if r[3] == "ok"]
    assert sorted(ok) == sorted(jobs)  # each job completed exactly once
    for job_id in interrupted - {r[1] for r in before}:  # killed mid-run: a new attempt did it
        (attempts,) = _rows(db, f"SELECT attempts FROM job WHERE id = '{job_id}'")[0]
        assert attempts == 2
    status = subprocess.run([sys.executable, "-m", "orchestrator.cli", "status", study, "--db", str(db)],
                            env=env, capture_output=True, text=True, timeout=60)
    assert f"study {study}: 8/8 finished; 8 done" in status.stdout
