"""`bench run --scenario/--batch/--requests/--qps/--latency-bound-ms/--find-peak/--until-stable`."""

import json

import pytest

FAST = ["--warmup", "0.05", "--duration", "0.3", "--iterations", "20", "--threads", "1"]


def test_scenarios_and_batches_are_labelled_in_the_table_json_and_results(tmp_path, bench, model_file):
    db = tmp_path / "b.db"
    out = bench("run", str(model_file("mlp", batch=None)), "-e", "onnxruntime", "--batch", "1,4",
                "--scenario", "single-stream,offline,server", "--requests", "2", "--qps", "200",
                "--latency-bound-ms", "100", "--db", str(db), *FAST)
    assert out.returncode == 0, out.stderr
    for text in ("single-stream", "offline b1 x2", "offline b4 x2", "server 200 qps", "server b4 200 qps",
                 "p50 ms (load)", "queries (", "Neither is a single-stream latency"):
        assert text in out.stdout, text
    runs = json.loads(bench("results", "--db", str(db), "--format", "json").stdout)
    labels = [(r["environment"]["scenario"]["label"], r["metrics"]["batch"],
               r["metrics"]["requests_in_flight"]) for r in runs]
    assert labels == [("single-stream", 1, 1), ("offline b1 x2", 1, 2), ("server 200 qps", 1, 2),
                      ("single-stream b4", 4, 1), ("offline b4 x2", 4, 2), ("server b4 200 qps", 4, 2)]
    assert [r["environment"]["input_shapes"]["input"][0] for r in runs] == [1, 1, 1, 4, 4, 4]
    assert all("streams" in r["metrics"] and r["environment"]["scenario"]["latency_kind"] for r in runs)
    table = bench("results", "--db", str(db)).stdout
    assert "offline b4 x2" in table and "server 200 qps" in table


def test_until_stable_is_reported_in_the_table(tmp_path, bench, model_file):
    out = bench("run", str(model_file("mlp")), "-e", "onnxruntime", "--until-stable", "1%",
                "--max-duration", "5", "--db", str(tmp_path / "b.db"), *FAST)
    assert out.returncode == 0, out.stderr
    assert "median stable (±" in out.stdout or "not stable to ±1 % before the time limit" in out.stdout


@pytest.mark.parametrize("args, message", [
    (["--scenario", "server", "--qps", "0"], "--qps must be a rate > 0"),
    (["--batch", "1,8"], "--batch 8: input 'input' fixes its batch dim at 1"),
    (["--scenario", "offline", "--requests", "65"], "onnxruntime allows at most 64 requests in flight"),
    (["--scenario", "server", "--find-peak"], "--find-peak needs --latency-bound-ms"),
    (["--until-stable", "often"], "--until-stable 'often': expected a percentage"),
])
def test_bad_scenario_flags_are_one_line_exit_1_and_store_nothing(tmp_path, bench, model_file, args, message):
    db = tmp_path / "b.db"
    out = bench("run", str(model_file("resnet")), "-e", "onnxruntime", "--db", str(db), *args)
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 1 and len(lines) == 1 and lines[0].startswith("error: "), out.stderr
    assert message in lines[0] and not db.exists()


def test_a_recurrent_model_with_state_runs_end_to_end(tmp_path, bench, model_file, lstm):
    out = bench("run", str(model_file(lstm("sequence_length"), filename="lstm.onnx")), "-e",
                "onnxruntime,openvino", "--shape", "x=12,1,8", "--db", str(tmp_path / "b.db"), *FAST)
    assert out.returncode == 0, out.stderr
    runs = json.loads(bench("results", "--db", str(tmp_path / "b.db"), "--format", "json").stdout)
    assert [r["status"] for r in runs] == ["ok", "ok"]
    assert all(r["metrics"]["batch"] == 1 and r["environment"]["scenario"]["label"] == "single-stream"
               for r in runs)
    assert runs[1]["metrics"]["accuracy_cosine_min"] > 0.9999  # openvino against the ORT reference
