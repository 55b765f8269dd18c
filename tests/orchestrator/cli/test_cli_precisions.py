"""`bench run` over engines x precisions: skips, calibration flags, accuracy limit, cache."""

import json

import numpy as np

FAST = ["--warmup", "0.05", "--duration", "0.3", "--iterations", "20", "--threads", "1"]


def test_cross_product_runs_every_combination_and_skips_with_reason(tmp_path, bench, model_file):
    out = bench("run", str(model_file("mobilenetv2")), "-e", "onnxruntime,openvino",
                "-p", "fp32,fp16,int8", "--db", str(tmp_path / "b.db"), *FAST)
    assert out.returncode == 0, out.stdout + out.stderr
    for word in ("cosine", "top-1", "cache", "skipped", "cannot compute in fp16", "generated data"):
        assert word in out.stdout
    runs = json.loads(bench("results", "--db", str(tmp_path / "b.db"), "-f", "json").stdout)
    assert len(runs) == 6
    by = {(r["job"]["variant"]["engine"], r["job"]["variant"]["precision"]): r for r in runs}
    assert by[("onnxruntime", "int8")]["metrics"]["accuracy_cosine_min"] > 0.9
    assert by[("openvino", "fp16")]["error_type"] == "UnsupportedVariant"


def test_second_run_says_cache_hit(tmp_path, bench, model_file):
    args = ["run", str(model_file("mlp")), "-e", "onnxruntime", "-p", "fp16", "--json",
            "--cache-dir", str(tmp_path / "cache"), "--db", str(tmp_path / "b.db"), *FAST]
    first, second = (json.loads(bench(*args).stdout)[0] for _ in range(2))
    assert first["environment"]["artifact"]["cache"] == "miss"
    assert second["environment"]["artifact"]["cache"] == "hit"


def test_max_accuracy_drop_fails_the_variant(tmp_path, bench, model_file):
    out = bench("run", str(model_file("transformer")), "-e", "onnxruntime", "-p", "int8",
                "--max-accuracy-drop", "0.0000001", "--db", str(tmp_path / "b.db"), *FAST)
    assert out.returncode == 2 and "accuracy drop" in out.stdout
    (run,) = json.loads(bench("results", "--db", str(tmp_path / "b.db"), "-f", "json").stdout)
    assert "accuracy-failed" in run["flags"]


def test_user_calibration_data_is_used(tmp_path, bench, model_file):
    np.savez(tmp_path / "c.npz", input=np.random.default_rng(0).standard_normal((8, 1, 3, 64, 64)).astype(np.float32))
    out = bench("run", str(model_file("resnet")), "-e", "openvino", "-p", "int8", "--json",
                "--calibration", str(tmp_path / "c.npz"), "--strict", "--db", str(tmp_path / "b.db"), *FAST)
    assert out.returncode == 0, out.stderr
    (run,) = json.loads(out.stdout)
    assert "calibration-generated" not in run["flags"]
    assert run["job"]["calibration"]["sha256"]


def test_corrupt_calibration_is_one_line_exit_1(tmp_path, bench, model_file):
    (tmp_path / "c.npz").write_bytes(b"PK\x03\x04 not really a zip")
    db = tmp_path / "b.db"
    out = bench("run", str(model_file("resnet")), "-p", "int8", "--calibration", str(tmp_path / "c.npz"),
                "--db", str(db), *FAST)
    assert out.returncode == 1 and len(out.stderr.strip().splitlines()) == 1
    assert "c.npz" in out.stderr and not db.exists()


def test_calibration_for_the_wrong_input_is_refused(tmp_path, bench, model_file):
    np.savez(tmp_path / "c.npz", image=np.zeros((2, 1, 3, 64, 64), np.float32))
    out = bench("run", str(model_file("resnet")), "-p", "int8", "--calibration", str(tmp_path / "c.npz"),
                "--db", str(tmp_path / "b.db"), *FAST)
    assert out.returncode == 1 and "lacks input(s) input" in out.stderr


def test_strict_refuses_int8_without_calibration(tmp_path, bench, model_file):
    out = bench("run", str(model_file("resnet")), "-p", "int8", "--strict", "--db", str(tmp_path / "b.db"))
    assert out.returncode == 1 and "--strict" in out.stderr


def test_default_engines_are_those_that_can_read_the_model_here(tmp_path, bench, model_file):
    from agents.engines import get_engine
    from orchestrator.plan.jobs import available_engines
    onnx = available_engines(model_file("mlp"))
    assert {"onnxruntime", "openvino"} <= set(onnx)
    assert ("tflite" in onnx) == (get_engine("tflite").supports(".onnx") is None)


def test_engine_that_cannot_read_the_format_is_skipped(tmp_path, bench):
    from zoo.tflite import build_cnn
    path = tmp_path / "cnn.tflite"
    path.write_bytes(build_cnn("int8"))
    out = bench("run", str(path), "-e", "tflite,onnxruntime", "-p", "int8", "--json",
                "--db", str(tmp_path / "b.db"), *FAST)
    assert out.returncode == 0, out.stderr
    by = {r["job"]["variant"]["engine"]: r for r in json.loads(out.stdout)}
    assert by["tflite"]["status"] == "ok" and "calibration-generated" not in by["tflite"]["flags"]
    assert by["onnxruntime"]["error_type"] == "UnsupportedVariant"
    assert "cannot read .tflite" in by["onnxruntime"]["error"]
