"""A converter or package missing on the board skips the variant, naming what to install.

Only infra-error counts against a device's health, so a board that lacks onnx, sympy, nncf or
the ONNX -> TFLite converter must not be quarantined for it. Each case runs the real agent in
a Python that genuinely cannot import the package (tests/agents/sealed_python.py).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from sealed_python import env_without

from agents.spec import RunResult

CASES = [
    # (model, engine, precision, hidden packages, text the reason must hold)
    ("mlp", "onnxruntime", "fp16", ("onnx",), "needs the Python package 'onnx' (pip install onnx)"),
    ("resnet", "onnxruntime", "int8", ("sympy",), "needs the Python package 'sympy' (pip install sympy)"),
    ("mlp", "openvino", "int8", ("nncf",), "needs the Python package 'nncf' (pip install nncf)"),
    ("mlp", "tflite", "fp32", ("onnx2tf",), "pip install benchlab[tflite-convert]"),
    # No check of its own here: the runner turns the converter's ModuleNotFoundError into a skip.
    ("mlp", "ncnn", "fp32", ("onnx",), "needs the Python package 'onnx' (pip install onnx)"),
]


def _run_sealed(tmp_path, spec, hidden) -> RunResult:
    proc = subprocess.run([sys.executable, "-m", "agents", "run", "-"], input=spec.to_json(),
                          capture_output=True, text=True, env=env_without(tmp_path, *hidden),
                          cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return RunResult.from_dict(json.loads(proc.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("model,engine,precision,hidden,reason", CASES,
                         ids=[f"{c[1]}-{c[2]}-without-{'+'.join(c[3])}" for c in CASES])
def test_missing_package_is_skipped_not_infra_error(model_file, job_for, tmp_path, model, engine,
                                                     precision, hidden, reason):
    spec = job_for(model_file(model), engine, options={"threads": 1})
    spec.variant.precision = precision
    spec.cache_dir = str(tmp_path / "cache")  # a cached artifact would need no converter
    result = _run_sealed(tmp_path, spec, hidden)
    # `skipped` on the wire: model-error with error_type UnsupportedVariant (never retried,
    # never counted against the device).
    assert (result.status, result.error_type) == ("model-error", "UnsupportedVariant"), result.error
    assert reason in result.error
    assert hidden[0] in result.error


def test_the_same_variant_runs_where_the_package_is_installed(model_file, job_for, tmp_path):
    spec = job_for(model_file("mlp"), "onnxruntime", options={"threads": 1})
    spec.variant.precision = "fp16"
    spec.cache_dir = str(tmp_path / "cache")
    result = _run_sealed(tmp_path, spec, ("nothing_hidden",))
    assert result.status == "ok", result.error
