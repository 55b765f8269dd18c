"""ONNX -> .mnn with MNN's converter (MNNConvert, shipped in the `MNN` wheel), in a child process.

The converter is the wheel's compiled `_tools.mnnconvert`, called with MNNConvert's arguments.
It runs in a child because it aborts the process on some models, and prints its own log. The
wheel's Python wrappers (`mnnconvert`, `mnnquant` console scripts) are not used: they import a
telemetry logger that sends usage data to a remote service and pip-installs its SDK when absent.

Precisions (what the converter writes; the runtime precision is set at load):
  fp32: float weights as in the ONNX model.
  fp16: `--fp16`, Conv/MatMul weights stored as half floats.
  int8: `--weightQuantBits 8`, Conv/MatMul weights quantized to int8, symmetric, per output
        channel (MNN's weight quantization). Activations are not calibrated: MNN's offline
        quantizer (`mnnquant`, the one that uses calibration data) aborts at start in the
        MNN 3.6.1 wheel (std::length_error before it reads the model), so it is not used.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from agents.errors import InfraError, ModelError, clip

TIMEOUT_S = 600
_ARGS = {"fp32": [], "fp16": ["--fp16"], "int8": ["--weightQuantBits", "8"]}
NOTES = {"fp32": "MNNConvert ONNX -> MNN, fp32 weights",
         "fp16": "MNNConvert --fp16: fp16 weights",
         "int8": "MNNConvert --weightQuantBits 8: int8 weights (symmetric, per channel), "
                 "activations not quantized offline (no calibration)"}
_CHILD = "import sys, _tools; sys.exit(0 if _tools.mnnconvert(sys.argv) else 3)"


def versions() -> dict[str, str]:
    """The MNN wheel's version (converter and runtime come together)."""
    try:
        return {"MNN": version("MNN")}
    except PackageNotFoundError:
        return {}


def convert(model_path: Path, precision: str, workdir: Path) -> tuple[Path, dict[str, str]]:
    """Write `workdir/model.mnn`.

    Returns:
        (the .mnn path, notes for the artifact).
    Raises:
        ModelError: the converter failed (an op MNN lacks ...); its message is kept.
        InfraError: it ran past TIMEOUT_S.
    """
    out = workdir / "model.mnn"
    cmd = [sys.executable, "-c", _CHILD, "mnnconvert", "-f", "ONNX", "--modelFile", str(model_path),
           "--MNNModel", str(out), "--bizCode", "benchlab", *_ARGS[precision]]
    try:
        proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=TIMEOUT_S,
                              errors="replace", env={**os.environ})
    except subprocess.TimeoutExpired:
        raise InfraError(f"MNNConvert ran longer than {TIMEOUT_S} s on {model_path.name}") from None
    text = proc.stdout + "\n" + proc.stderr
    # MNNConvert reports "Converted Failed!" and still returns success.
    if proc.returncode != 0 or "Converted Success" not in text or not out.is_file():
        raise ModelError(f"MNNConvert could not convert {model_path.name}: {_last_error(text, proc)}")
    return out, {**versions(), "conversion": NOTES[precision]}


def _last_error(text: str, proc: subprocess.CompletedProcess) -> str:
    lines = [re.sub(r"^\[[0-9:]+\] :\d+: ", "", line.strip()) for line in text.splitlines()]
    lines = [line for line in lines if line and not line.startswith("The device supports")]
    errors = [line for line in lines
              if re.search(r"not support|error|fail|abort|what\(\)", line, re.IGNORECASE)
              and "Converted Failed" not in line]
    tail = clip((errors or lines or [""])[-1])
    crash = f" (the converter died with signal {-proc.returncode})" if proc.returncode < 0 else ""
    return (tail or f"exit code {proc.returncode}") + crash
