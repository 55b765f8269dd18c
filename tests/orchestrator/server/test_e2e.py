"""The walkthrough of the README, for real: `bench serve` (with its dispatcher) on PostgreSQL
and on SQLite, a token from `bench token create`, `bench submit --server --wait` of a zoo
model on the device `local`, then runs, status and the dashboard from the client side;
and Ctrl-C on `submit --wait`, which detaches without cancelling."""

import os
import signal
import subprocess
import sys
import time

import pytest

from orchestrator.client import Client
from server_helpers import ROOT, fresh_pg_database, start_server, stop_server

FAST = ["--warmup", "0.05", "--duration", "0.3", "--iterations", "20", "--threads", "1"]


@pytest.fixture(params=["postgres", "sqlite"])
def lab(request, tmp_path):
    """A `bench serve` with its dispatcher over the device `local`."""
    drop = None
    if request.param == "sqlite":
        db = f"sqlite:///{tmp_path / 'server.db'}"
    else:
        db, drop = fresh_pg_database()
    server = start_server(db, tmp_path / "models", "--poll", "0.2")
    yield server
    stop_server(server)
    if drop:
        drop()


def test_submit_wait_through_the_server(lab, tmp_path, bench, mlp_model):
    token = bench("token", "create", "--name", "laptop", "--db", lab.db).stdout.strip()
    env = {"BENCH_TOKEN": token, "XDG_CONFIG_HOME": str(tmp_path / "no-config")}
    out = bench("submit", str(mlp_model), "--server", lab.url, "--engines", "onnxruntime",
                "--precisions", "fp32,fp16", "--wait", *FAST, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    study = out.stdout.split("queued study ")[1].split()[0]
    assert f"study {study}: 2 done" in out.stdout and "2 run(s)" in out.stdout
    assert f"dashboard: {lab.url}/v1/studies/{study}/dashboard" in out.stdout
    assert "on local (" in out.stderr  # live progress: a leased or running job and its device
    assert not (tmp_path / "bench.db").exists()  # nothing went to a local database

    (tmp_path / "cfg" / "bench").mkdir(parents=True)
    (tmp_path / "cfg" / "bench" / "config.toml").write_text(f'server = "{lab.url}"\ntoken = "{token}"\n')
    by_config = {"XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    status = bench("status", study, env=by_config, cwd=tmp_path)
    assert f"study {study}: 2/2 finished; 2 done" in status.stdout, status.stdout + status.stderr
    page = bench("dashboard", "--study", study, "-o", str(tmp_path / "study.html"), env=by_config, cwd=tmp_path)
    assert page.returncode == 0 and "plotly" in (tmp_path / "study.html").read_text().lower()
    results = bench("results", "--study", study, "-f", "json", env={**env, "BENCH_SERVER": lab.url}, cwd=tmp_path)
    runs = __import__("json").loads(results.stdout)
    assert sorted(r["job"]["variant"]["precision"] for r in runs) == ["fp16", "fp32"]
    assert all(r["status"] == "ok" and r["latencies"]["count"] > 0 for r in runs)
    with Client(lab.url, token) as c:
        page = c.dashboard(study)
        assert "<html" in page.lower() and "plotly" in page.lower()
        assert [r["device"] for r in c.runs(study=study)] == ["local", "local"]
    wrong = bench("status", study, "--server", lab.url, env={"BENCH_TOKEN": "bench_nope"}, cwd=tmp_path)
    assert wrong.returncode == 1 and "answered 401" in wrong.stderr and len(wrong.stderr.splitlines()) == 1


@pytest.mark.parametrize("lab", ["sqlite"], indirect=True)  # the client's side: one database is enough
def test_ctrl_c_detaches_and_the_study_goes_on(lab, tmp_path, mlp_model):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BENCH_TOKEN": lab.token,
           "XDG_CONFIG_HOME": str(tmp_path / "no-config")}
    proc = subprocess.Popen([sys.executable, "-m", "orchestrator.cli", "submit", str(mlp_model),
                             "--server", lab.url, "--engines", "onnxruntime", "--wait",
                             "--warmup", "0.05", "--duration", "3", "--iterations", "20"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    seen = ""
    deadline = time.monotonic() + 60
    while "(running)" not in seen and time.monotonic() < deadline:
        seen += proc.stderr.readline()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, out + seen + err
    assert "detached from study" in err and "keeps running on the server" in err
    study = out.split("queued study ")[1].split()[0]
    with Client(lab.url, lab.token) as c:
        final = c.wait(study, poll_s=0.2)
    assert final["counts"] == {"done": 1}
