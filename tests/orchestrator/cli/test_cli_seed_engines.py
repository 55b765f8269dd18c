"""`bench run` over ncnn, MNN and TVM beside ONNX Runtime: the cross product, skips and accuracy."""

import importlib.util
import json

import pytest

FAST = ["--warmup", "0.05", "--duration", "0.3", "--iterations", "20", "--threads", "1"]
SEEDS = ("ncnn", "pnnx", "MNN", "tvm")


@pytest.mark.skipif(not all(importlib.util.find_spec(m) for m in SEEDS),
                    reason="ncnn, pnnx, MNN and apache-tvm are needed (make venv installs them)")
def test_cross_product_with_the_seed_engines(tmp_path, bench, model_file):
    db = str(tmp_path / "b.db")
    out = bench("run", str(model_file("mlp")), "-e", "onnxruntime,ncnn,mnn,tvm",
                "-p", "fp32,fp16,int8", "--cache-dir", str(tmp_path / "cache"), "--db", db, *FAST)
    assert out.returncode == 0, out.stdout + out.stderr
    for word in ("ncnn", "mnn", "tvm", "cosine", "skipped", "ncnn2int8", "no fp16 on the llvm"):
        assert word in out.stdout
    runs = json.loads(bench("results", "--db", db, "-f", "json").stdout)
    by = {(r["job"]["variant"]["engine"], r["job"]["variant"]["precision"]): r for r in runs}
    assert len(by) == 12
    skipped = {k for k, r in by.items() if r["error_type"] == "UnsupportedVariant"}
    assert skipped == {("ncnn", "int8"), ("tvm", "fp16"), ("tvm", "int8")}
    for key, run in by.items():
        if key in skipped:
            continue
        assert run["status"] == "ok", (key, run["error"])
        if key != ("onnxruntime", "fp32"):
            floor = {"fp32": 0.9999, "fp16": 0.999, "int8": 0.95}[key[1]]
            assert run["metrics"]["accuracy_cosine_min"] > floor, key
            assert run["environment"]["artifact"]["cache"] == "miss"
