"""The emulated aarch64 board (tests/rig/board.py) from the orchestrator's side, as a user runs it:
`bench fleet setup` from scratch, a study through the queue to the end, an agent killed and a
connection dropped mid-job, quarantine and `bench fleet release`.

The board has its own root filesystem, Python and sshd: nothing it runs can read the
orchestrator's files, so every path a job needs must travel over SSH. Marked `board`:
`make test` builds the board (or reuses it) and runs these with the rest; `make test-board`
runs only these.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parents[1] / "rig"))
import board as rig  # noqa: E402

pytestmark = pytest.mark.board
FAST = ["--warmup", "0.05", "--duration", "0.3", "--iterations", "20", "--threads", "1"]
ENGINES = "onnxruntime,tflite"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A fresh board (its caches wiped: no venv, no agent, no files), an inventory naming it,
    and a database."""
    why = rig.usable()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"the emulated board is required under CI: {why}")
        pytest.skip(why)
    work = tmp_path_factory.mktemp("board")
    b = rig.Board(work, fresh_home=True)
    entry = {**b.inventory_entry("arm-board"), "engines": ENGINES.split(",")}
    (work / "lab.yaml").write_text(yaml.safe_dump({"devices": [entry]}))
    yield b, str(work / "lab.yaml"), str(work / "bench.db")
    b.stop()


@pytest.fixture(scope="module")
def prepared(lab, bench):
    """The board after `bench fleet setup` (the first test checks what that printed)."""
    b, inv, db = lab
    out = bench("fleet", "setup", "arm-board", "--engines", ENGINES, "--inventory", inv, "--db", db,
                timeout=1800)
    return b, inv, db, out


def _runs(bench, db) -> list[dict]:
    out = bench("results", "--db", db, "-f", "json", "--last", "0")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _board_processes(b: rig.Board, *words: str) -> list[int]:
    """PIDs (as this machine sees them) of the board's processes whose command line holds
    every word: the board's processes are those whose root is the board's root."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if os.readlink(proc / "root") != str(b.root):
                continue
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if all(w in cmd for w in words):
            found.append(int(proc.name))
    return found


def _kill_when_measuring(b: rig.Board, words: tuple[str, ...], after_s: float) -> threading.Thread:
    def kill():
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if _board_processes(b, "agent", ".pyz", " run "):
                time.sleep(after_s)  # into the job: import, compile, measure
                for pid in _board_processes(b, *words):
                    os.kill(pid, signal.SIGKILL)
                return
            time.sleep(0.1)

    t = threading.Thread(target=kill, daemon=True)
    t.start()
    return t


def test_setup_prepares_a_bare_board_and_the_probe_says_what_it_has(prepared, bench):
    b, inv, db, out = prepared
    assert out.returncode == 0, out.stdout + out.stderr
    venv = f"/home/{rig.USER}/.cache/benchlab/venv/bin/python"
    assert (b.home / ".cache/benchlab/venv/bin/python").exists()  # on the board's own disk
    listed = bench("fleet", "list", "--inventory", inv, "--db", db, env={"COLUMNS": "400"})
    assert "aarch64" in listed.stdout and "Cortex-A76" in listed.stdout, listed.stdout
    from results import fleet
    from results.db import open_db
    row = fleet.device_rows(open_db(db), ["arm-board"])[0]
    assert row.setup["python"] == venv and row.setup["engines"] == ENGINES.split(",")
    engines = row.probe["engines"]
    assert engines["onnxruntime"]["available"] and engines["tflite"]["available"], engines
    assert row.probe["environment"]["arch"] == "aarch64"
    assert not engines["openvino"]["available"] and "openvino" in engines["openvino"]["reason"]


def test_study_with_two_engines_and_int8_runs_to_the_end_on_the_board(prepared, bench, model_file):
    b, inv, db, _ = prepared
    model = model_file("mlp")
    out = bench("submit", str(model), "--devices", "name:arm-board", "--engines", ENGINES,
                "--precisions", "fp32,int8", "--inventory", inv, "--db", db, "--wait", *FAST,
                timeout=1800)
    assert out.returncode == 0, out.stdout + out.stderr
    runs = {(r["job"]["variant"]["engine"], r["job"]["variant"]["precision"]): r for r in _runs(bench, db)}
    assert set(runs) == {("onnxruntime", "fp32"), ("onnxruntime", "int8"), ("tflite", "fp32"),
                         ("tflite", "int8")}
    for key in [("onnxruntime", "fp32"), ("onnxruntime", "int8")]:
        r = runs[key]
        assert r["status"] == "ok", (key, r["error"])
        assert r["environment"]["arch"] == "aarch64" and "Cortex-A76" in r["environment"]["cpu_model"]
        assert r["metrics"]["iterations"] >= 20 and 0 < r["metrics"]["latency_p50_ms"] < 10_000
        assert r["job"]["model"]["path"] == str(model)  # the orchestrator's view is stored
    assert runs[("onnxruntime", "int8")]["metrics"]["accuracy_cosine_min"] > 0.9  # checked on the board
    # An ONNX model for LiteRT needs the ONNX->TFLite converter, which a board does not have:
    # the job's problem (skipped with the reason), never the board's.
    for key in [("tflite", "fp32"), ("tflite", "int8")]:  # skipped: model-error + UnsupportedVariant
        r = runs[key]
        assert (r["status"], r["error_type"]) == ("model-error", "UnsupportedVariant"), r
        assert "onnx2tf" in r["error"], r["error"]
    listed = bench("fleet", "list", "--inventory", inv, "--db", db, env={"COLUMNS": "400"})
    assert "QUARANTINED" not in listed.stdout


def test_a_tflite_model_runs_on_the_board(prepared, bench, tmp_path):
    b, inv, db, _ = prepared
    tfl = tmp_path / "cnn-int8.tflite"
    made = bench("zoo", "cnn-int8", "--format", "tflite", "-o", str(tfl))
    assert made.returncode == 0, made.stderr
    out = bench("submit", str(tfl), "--devices", "name:arm-board", "--engines", "tflite",
                "--precisions", "int8", "--inventory", inv, "--db", db, "--wait", *FAST, timeout=900)
    assert out.returncode == 0, out.stdout + out.stderr
    run = [r for r in _runs(bench, db) if r["job"]["model"]["path"] == str(tfl)][-1]
    assert run["status"] == "ok", run["error"]
    assert run["environment"]["arch"] == "aarch64"


@pytest.mark.parametrize("what", ["agent", "connection"])
def test_agent_killed_or_connection_dropped_mid_job_is_retried_and_stored_once(prepared, bench, model_file, what):
    b, inv, db, _ = prepared
    before = {r["job_id"] for r in _runs(bench, db)}
    # The agent itself, or every sshd serving a connection (the listener, PID 1, stays).
    words = ("agent", ".pyz", " run ") if what == "agent" else ("/usr/sbin/sshd", " -R")
    _kill_when_measuring(b, words, after_s=3.0)
    out = bench("submit", str(model_file("mlp")), "--devices", "name:arm-board", "--engines", "onnxruntime",
                "--inventory", inv, "--db", db, "--wait", "--warmup", "0.05", "--duration", "8",
                "--iterations", "20", "--threads", "1", timeout=900)
    assert out.returncode == 0, out.stdout + out.stderr
    runs = [r for r in _runs(bench, db) if r["job_id"] not in before]
    assert len({r["job_id"] for r in runs}) == 1
    assert [(r["attempt"], r["status"]) for r in runs] == [(1, "infra-error"), (2, "ok")], \
        [(r["attempt"], r["status"], r["error"]) for r in runs]
    expected = "agent died" if what == "agent" else "connection lost"
    assert expected in runs[0]["error"], runs[0]["error"]


def test_a_board_that_stops_answering_is_quarantined_and_released_by_hand(lab, prepared, bench, model_file):
    b, inv, db, _ = prepared
    b.stop()  # the board loses power: connections are refused
    try:
        out = bench("submit", str(model_file("mlp")), "--devices", "name:arm-board", "--engines",
                    "onnxruntime", "--inventory", inv, "--db", db, "--wait", "--max-attempts", "3",
                    *FAST, timeout=900)
    finally:
        b.start()  # back on the same port; only a person (or a health check) brings it back
    assert out.returncode != 0
    listed = bench("fleet", "list", "--inventory", inv, "--db", db, env={"COLUMNS": "400"})
    assert "QUARANTINED since" in listed.stdout and "infra-errors" in listed.stdout, listed.stdout
    out = bench("fleet", "release", "arm-board", "--inventory", inv, "--db", db)
    assert out.returncode == 0, out.stderr
    assert "released arm-board" in out.stdout and "cannot connect" in out.stdout, out.stdout
    from results import fleet
    from results.db import open_db
    row = fleet.device_rows(open_db(db), ["arm-board"])[0]
    assert (row.health, row.failures, row.quarantined_s) == ("ok", 0, None)
    again = bench("submit", str(model_file("mlp")), "--devices", "name:arm-board", "--engines",
                  "onnxruntime", "--inventory", inv, "--db", db, "--wait", *FAST, timeout=900)
    assert again.returncode == 0, again.stdout + again.stderr
    unknown = bench("fleet", "release", "no-such-board", "--inventory", inv, "--db", db)
    assert unknown.returncode == 1 and "no-such-board" in unknown.stderr
    assert len(unknown.stderr.strip().splitlines()) == 1


def test_setup_with_the_boards_own_pip(prepared, bench):
    """`--source board`: only pip is shipped; the board's pip fetches from its own index."""
    b, inv, db, _ = prepared
    out = bench("fleet", "setup", "arm-board", "--engines", "onnxruntime", "--precisions", "fp32",
                "--source", "board", "--fresh", "--inventory", inv, "--db", db, timeout=1800)
    assert out.returncode == 0, out.stdout + out.stderr
    from results import fleet
    from results.db import open_db
    row = fleet.device_rows(open_db(db), ["arm-board"])[0]
    assert row.setup["source"] == "board" and row.setup["packages"] == ["numpy", "onnxruntime"]
    ort = row.probe["engines"]["onnxruntime"]
    # A fresh venv with fp32's packages only: int8's are missing, and the probe names them.
    assert ort["available"] and not ort["precisions"]["int8"]["available"], ort
    assert "onnx" in ort["precisions"]["int8"]["reason"]
