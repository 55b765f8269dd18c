"""`bench fleet`, `bench submit`, `bench status`, `bench cancel` through the real CLI."""

import json
import sqlite3

import zoo


def _count(db, table):
    return sqlite3.connect(db).execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_study_over_several_local_devices_runs_to_completion(tmp_path, lab_file, model_file, bench, fast_flags):
    inv = lab_file({"name": "local", "tags": ["cpu"]},
                   {"name": "cpu0", "cpus": [0], "threads": 1, "tags": ["cpu", "pinned"]},
                   {"name": "cpu1", "cpus": "1", "threads": 1, "tags": ["cpu", "pinned"]})
    common = ["--inventory", str(inv), "--db", str(tmp_path / "q.db")]
    out = bench("submit", str(model_file("mlp")), "--devices", "tag:cpu", "--engines", "onnxruntime,openvino",
                "--wait", *common, *fast_flags)
    assert out.returncode == 0, out.stderr
    assert "6 job(s) on 3 device(s), priority interactive" in out.stdout
    study = out.stdout.split("queued study ")[1].split()[0]
    assert f"study {study}: 6 done" in out.stdout
    runs = json.loads(bench("results", "--study", study, "-f", "json", "--db", str(tmp_path / "q.db")).stdout)
    assert sorted((r["job"]["device"], r["job"]["variant"]["engine"]) for r in runs) == sorted(
        (d, e) for d in ("local", "cpu0", "cpu1") for e in ("onnxruntime", "openvino"))
    pinned = [r for r in runs if r["job"]["device"] == "cpu1"]
    assert {r["environment"]["cpu_affinity"] for r in pinned} == {1}  # the agent ran on CPU 1 only
    status = bench("status", study, "--db", str(tmp_path / "q.db"))
    assert f"study {study}: 6/6 finished; 6 done" in status.stdout
    for device in ("local", "cpu0", "cpu1"):
        assert device in status.stdout
    fleet = bench("fleet", "list", *common)
    assert fleet.returncode == 0 and fleet.stdout.count("idle") == 3 and "onnxruntime" in fleet.stdout


def test_study_file_with_batch_sizes_and_cancel(tmp_path, lab_file, model_file, bench):
    zoo.save("mlp", tmp_path / "dyn.onnx", batch=None)
    inv = lab_file({"name": "local"})
    (tmp_path / "study.yaml").write_text(
        "name: batches\nmodels: [dyn.onnx]\ndevices: [local]\nengines: [onnxruntime]\n"
        "batch_sizes: [1, 4]\nscenarios: [single-stream, offline]\nrun: {duration_s: 0.3, warmup_s: 0.05}\n")
    common = ["--inventory", str(inv), "--db", str(tmp_path / "q.db")]
    out = bench("submit", str(tmp_path / "study.yaml"), *common)
    assert out.returncode == 0, out.stderr
    assert "4 job(s) on 1 device(s), priority nightly" in out.stdout
    study = out.stdout.split("queued study ")[1].split()[0]
    specs = [json.loads(s) for (s,) in sqlite3.connect(tmp_path / "q.db").execute("SELECT spec FROM job")]
    assert sorted((s["scenario"]["name"], s["scenario"]["batch"], s["inputs"]["shapes"]["input"][0]) for s in specs) == \
        [("offline", 1, 1), ("offline", 4, 4), ("single-stream", 1, 1), ("single-stream", 4, 4)]
    cancel = bench("cancel", study, "--db", str(tmp_path / "q.db"))
    assert "4 queued job(s) cancelled, 0 running" in cancel.stdout
    assert f"study {study}: 4/4 finished; 4 cancelled" in bench("status", study, "--db", str(tmp_path / "q.db")).stdout
    missing = bench("cancel", study[:-1] + "x", "--db", str(tmp_path / "q.db"))
    assert missing.returncode == 1 and f"nearest studies: {study}" in missing.stderr


def test_study_nobody_can_run_is_refused_with_the_reason_and_nothing_queued(
        tmp_path, lab_file, model_file, bench, python_without, fast_flags):
    inv = lab_file({"name": "board", "python": str(python_without("openvino"))})
    db = tmp_path / "q.db"
    out = bench("submit", str(model_file("mlp")), "--engines", "openvino", "--inventory", str(inv),
                "--db", str(db), *fast_flags)
    assert out.returncode == 1
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith("error: nothing to queue") and "openvino on board: not available there" in line
    assert _count(db, "study") == 0 and _count(db, "job") == 0
    fleet = bench("fleet", "list", "--inventory", str(inv), "--db", str(db))
    assert "onnxruntime" in fleet.stdout and "MISSING" not in fleet.stdout


def test_bad_submit_input_is_one_line(tmp_path, lab_file, model_file, bench):
    inv = lab_file({"name": "jetson-01"}, {"name": "jetson-02"})
    model = str(model_file("mlp"))
    cases = [
        (["--devices", "name:jetson-03"], "selector 'name:jetson-03' matches no device; nearest devices: jetson-0"),
        (["--priority", "urgent"], "unknown value 'urgent'; known: interactive, nightly, background"),
        (["--engines", "onnxrt"], "unknown engine 'onnxrt'"),
        (["--spread", "some"], "unknown value 'some'; known: each, any"),
    ]
    for args, message in cases:
        out = bench("submit", model, *args, "--inventory", str(inv), "--db", str(tmp_path / "q.db"))
        assert out.returncode == 1, (args, out.stderr)
        (line,) = out.stderr.strip().splitlines()
        assert message in line, line
    (tmp_path / "s.yaml").write_text("models: [m.onnx]\ndevices: [all]\nengines: [onnxruntime]\nrun:\n  duration: 3\n")
    out = bench("submit", str(tmp_path / "s.yaml"), "--inventory", str(inv), "--db", str(tmp_path / "q.db"))
    assert out.returncode == 1 and "s.yaml:5: field 'run.duration': unknown key 'duration' in run; did you mean 'duration_s'?" in out.stderr


def test_fleet_probe_reports_an_unreachable_device_and_list_shows_quarantine(tmp_path, lab_file, bench):
    inv = lab_file({"name": "ok", "cpus": [1]}, {"name": "gone", "python": str(tmp_path / "no-python")})
    common = ["--inventory", str(inv), "--db", str(tmp_path / "q.db")]
    probe = bench("fleet", "probe", *common)
    assert probe.returncode == 2 and "FAILED" in probe.stdout and "x86_64" in probe.stdout
    assert "1 cpu" in probe.stdout  # the probe ran pinned to CPU 1
    conn = sqlite3.connect(tmp_path / "q.db")
    conn.execute("UPDATE device SET health = 'quarantined', failures = 3, health_reason = 'boom' WHERE name = 'ok'")
    conn.commit()
    listing = bench("fleet", "list", *common).stdout
    assert "QUARANTINED (3 infra-errors; boom)" in listing and "unprobed (probe failed" in listing
    assert bench("fleet", "probe", "name:nope", *common).returncode == 1


def test_submit_server_scenario_with_load_flags_runs_through_the_queue(tmp_path, bench, model_file):
    import json
    db = str(tmp_path / "b.db")
    out = bench("submit", str(model_file("mlp")), "--engines", "onnxruntime", "--scenarios", "server",
                "--qps", "200", "--latency-bound-ms", "50", "--db", db, "--wait",
                "--warmup", "0.05", "--duration", "0.5", "--iterations", "20", "--threads", "1")
    assert out.returncode == 0, out.stdout + out.stderr
    (run,) = json.loads(bench("results", "--db", db, "-f", "json").stdout)
    assert run["status"] == "ok" and run["job"]["scenario"]["target_qps"] == 200


def test_submit_server_without_qps_is_refused(tmp_path, bench, model_file):
    out = bench("submit", str(model_file("mlp")), "--engines", "onnxruntime", "--scenarios", "server",
                "--db", str(tmp_path / "b.db"))
    assert out.returncode == 1 and "qps" in out.stderr and len(out.stderr.strip().splitlines()) == 1
