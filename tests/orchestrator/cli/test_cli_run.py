"""`bench run`, `bench results`, `bench zoo` through the real CLI in a child process."""

import hashlib
import json

import numpy as np
import onnx
import pytest

import zoo

FAST = ["--warmup", "0.05", "--duration", "0.3", "--iterations", "20", "--threads", "1"]


def _db_digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


@pytest.fixture
def stored(tmp_path, bench, model_file):
    """A database that already holds one run, to prove bad input changes nothing."""
    db = tmp_path / "bench.db"
    out = bench("run", str(model_file("mlp")), "--engine", "onnxruntime", "--db", str(db), *FAST)
    assert out.returncode == 0, out.stderr
    return db


def test_run_on_both_engines_prints_table_and_stores_runs(tmp_path, bench, model_file):
    db = tmp_path / "b.db"
    out = bench("run", str(model_file("resnet")), "--engine", "onnxruntime,openvino", "--db", str(db), *FAST)
    assert out.returncode == 0, out.stderr
    for word in ("onnxruntime", "openvino", "p50 ms", "throughput", "cold start"):
        assert word in out.stdout
    res = bench("results", "--db", str(db), "--format", "json")
    runs = json.loads(res.stdout)
    assert [r["job"]["variant"]["engine"] for r in runs] == ["onnxruntime", "openvino"]
    assert all(r["status"] == "ok" and r["metrics"]["latency_p50_ms"] > 0 for r in runs)
    assert all(r["latencies"]["count"] == r["metrics"]["iterations"] for r in runs)


def test_run_json_prints_runresults(tmp_path, bench, model_file):
    out = bench("run", str(model_file("mlp")), "-e", "onnxruntime", "--json", "--db", str(tmp_path / "b.db"), *FAST)
    assert out.returncode == 0, out.stderr
    (run,) = json.loads(out.stdout)
    assert run["schema_version"] == 2 and run["status"] == "ok"
    assert run["engine_config"]["intra_op_threads"] == 1


def test_dynamic_shape_model_runs_with_shape(tmp_path, bench, model_file):
    path = model_file("transformer", batch=None)
    out = bench("run", str(path), "-e", "onnxruntime,openvino", "--shape", "input_ids=2,16",
                "--json", "--db", str(tmp_path / "b.db"), *FAST)
    assert out.returncode == 0, out.stderr
    runs = json.loads(out.stdout)
    assert [r["environment"]["input_shapes"] for r in runs] == [{"input_ids": [2, 16]}] * 2


def test_int64_scalar_from_npz(tmp_path, bench, model_file):
    path = model_file(zoo.build_multi_input(), filename="multi.onnx")
    np.savez(tmp_path / "in.npz", sample_rate=np.array(16000, dtype=np.int64))
    out = bench("run", str(path), "-e", "onnxruntime", "--shape", "audio=1,400", "--shape", "mask=1,400",
                "--inputs", str(tmp_path / "in.npz"), "--json", "--db", str(tmp_path / "b.db"), *FAST)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)[0]["status"] == "ok"


def test_failing_engine_does_not_stop_the_others(tmp_path, bench, model_file):
    db = tmp_path / "b.db"
    out = bench("run", str(model_file("mlp")), "-e", "openvino,onnxruntime", "--option", "openvino.device=NPU",
                "--db", str(db), *FAST)
    assert out.returncode == 2
    assert "NPU" in out.stdout
    runs = json.loads(bench("results", "--db", str(db), "-f", "json").stdout)
    assert [r["status"] for r in runs] == ["infra-error", "ok"]


def test_unsupported_op_is_stored_as_model_error(tmp_path, bench, model_file):
    db = tmp_path / "b.db"
    path = model_file(zoo.build_unsupported_op(), filename="bad.onnx")
    out = bench("run", str(path), "-e", "onnxruntime,openvino", "--db", str(db), *FAST)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    runs = json.loads(bench("results", "--db", str(db), "-f", "json").stdout)
    assert [r["status"] for r in runs] == ["model-error", "model-error"]
    assert all("NoSuchOp" in r["error"] for r in runs)


def _bad_inputs(tmp_path, model_file):
    good = str(model_file("mlp"))
    dyn = str(model_file("mlp", batch=None, filename="dyn.onnx"))
    (tmp_path / "notes.onnx").write_text("these are not the weights you are looking for\n")
    whole = (tmp_path / "dyn.onnx").read_bytes()
    (tmp_path / "half.onnx").write_bytes(whole[: len(whole) // 3])
    return {
        "not a model": ([str(tmp_path / "notes.onnx")], "not a valid ONNX model"),
        "truncated": ([str(tmp_path / "half.onnx")], "not a valid ONNX model"),
        "missing file": ([str(tmp_path / "nope.onnx")], "not found"),
        "unknown engine": ([good, "-e", "ovino"], "unknown engine 'ovino'; known: mnn, ncnn, onnxruntime, openvino"),
        "shape of missing input": ([dyn, "--shape", "image=1,256"], "does not have"),
        "shape of wrong rank": ([dyn, "--shape", "input=1,256,1"], "rank 3 given"),
        "open dynamic dim": ([dyn], "dynamic dims ['batch']"),
        "negative duration": ([good, "--duration", "-1"], "--duration must be > 0"),
        "unknown precision": ([good, "-p", "fp64"], "unknown precision 'fp64'"),
        "unknown option": ([good, "-e", "openvino", "-o", "openvino.colour=red"], "colour"),
        "malformed shape": ([dyn, "--shape", "input"], "expected NAME=D1,D2"),
    }


@pytest.mark.parametrize("case", ["not a model", "truncated", "missing file", "unknown engine",
                                  "shape of missing input", "shape of wrong rank", "open dynamic dim",
                                  "negative duration", "unknown precision", "unknown option",
                                  "malformed shape"])
def test_bad_input_is_one_line_exit_1_and_changes_nothing(tmp_path, bench, model_file, stored, case):
    args, message = _bad_inputs(tmp_path, model_file)[case]
    before = _db_digest(stored)
    out = bench("run", *FAST, *args, "--db", str(stored))
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], out.stderr
    assert _db_digest(stored) == before


def test_bad_input_creates_no_database(tmp_path, bench):
    out = bench("run", str(tmp_path / "nope.onnx"), "--db", str(tmp_path / "fresh.db"))
    assert out.returncode == 1 and not (tmp_path / "fresh.db").exists()


def test_results_formats(stored, bench):
    table = bench("results", "--db", str(stored))
    assert table.returncode == 0 and "onnxruntime" in table.stdout and "mlp" in table.stdout
    csv = bench("results", "--db", str(stored), "--format", "csv").stdout.splitlines()
    assert csv[0].startswith("id,created_at") and len(csv) == 2
    bad = bench("results", "--db", str(stored), "--format", "xml")
    assert bad.returncode == 1 and "unknown format 'xml'" in bad.stderr


def test_zoo_list_and_write(tmp_path, bench):
    listing = bench("zoo", "list")
    for name in ("mlp", "resnet", "mobilenetv2", "transformer"):
        assert name in listing.stdout
    out = bench("zoo", "mobilenetv2", "-o", str(tmp_path / "m.onnx"), "--batch", "4")
    assert out.returncode == 0
    model = onnx.load(str(tmp_path / "m.onnx"))
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 4
    bad = bench("zoo", "alexnet")
    assert bad.returncode == 1 and "unknown zoo model 'alexnet'" in bad.stderr


def _hwmon_tree(root, watts):
    dev = root / "sys/class/hwmon/hwmon0"
    dev.mkdir(parents=True)
    (dev / "name").write_text("ina226\n")
    (dev / "power1_input").write_text(f"{int(watts * 1e6)}\n")  # microwatts, as hwmon reports
    return root


def test_power_is_measured_and_shown(tmp_path, bench, model_file):
    root = _hwmon_tree(tmp_path / "fixture", watts=7.5)
    db = tmp_path / "b.db"
    out = bench("run", str(model_file("mlp")), "-e", "onnxruntime", "--power", "hwmon",
                "--power-option", f"root={root}", "--idle-power", "0.2", "--db", str(db), *FAST)
    assert out.returncode == 0, out.stderr
    assert "J/inference" in out.stdout
    (run,) = json.loads(bench("results", "--db", str(db), "-f", "json").stdout)
    m = run["metrics"]
    assert m["power_avg_w"] == pytest.approx(7.5, rel=0.01)
    assert m["energy_per_inference_j"] == pytest.approx(7.5 / m["throughput_ips"], rel=0.05)
    assert run["power_trace"] and run["environment"]["power"]["rails_summed"]
    table = bench("results", "--db", str(db)).stdout
    assert "J/inference" in table and "7.5" in table


def test_missing_sensor_leaves_power_null_with_reason(tmp_path, bench, model_file):
    out = bench("run", str(model_file("mlp")), "-e", "onnxruntime", "--power", "rapl",
                "--power-option", f"root={tmp_path}", "--idle-power", "0", "--json",
                "--db", str(tmp_path / "b.db"), *FAST)
    assert out.returncode == 0, out.stderr
    (run,) = json.loads(out.stdout)
    assert run["metrics"]["energy_j"] is None and run["metrics"]["power_avg_w"] is None
    assert run["environment"]["power"]["reason"]


@pytest.mark.parametrize("args,message", [
    (["--power", "wattmeter"], "unknown power sensor 'wattmeter'"),
    (["--power", "hwmon", "--power-option", "colour=red"], "colour"),
    (["--power", "hwmon", "--idle-power", "-1"], "--idle-power must be >= 0"),
])
def test_bad_power_flags_are_one_line_errors(tmp_path, bench, model_file, args, message):
    out = bench("run", str(model_file("mlp")), "-e", "onnxruntime", *args, "--db", str(tmp_path / "b.db"))
    assert out.returncode == 1 and message in out.stderr and len(out.stderr.strip().splitlines()) == 1
