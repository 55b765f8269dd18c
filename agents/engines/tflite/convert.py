"""ONNX -> TFLite with onnx2tf, in a child process, and the layout map back to the ONNX model.

onnx2tf needs TensorFlow (the `tflite-convert` extra). It runs in its own process because it
calls `sys.exit` on errors, rewrites its input file in place (onnxsim), prints a lot, and would
leave TensorFlow's thread pools and memory in the agent that is about to measure. One call
writes `*_float32.tflite` and `*_float16.tflite`; with `output_integer_quantized_tflite` it
also writes `*_full_integer_quant.tflite` (int8 weights, activations, input and output), which
is the int8 variant benchlab runs. onnx2tf turns channel-first inputs and outputs (NCW, NCHW,
NCDHW) into channel-last; `Layout` records what it did per tensor, so the accuracy check can
feed the ONNX reference's inputs and compare its outputs.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agents.engines.base import Artifact
from agents.errors import InfraError, ModelError, UnsupportedVariant, clip

EXTRA_HINT = ("converting ONNX needs the tflite-convert extra: pip install benchlab[tflite-convert], "
              "here or in a separate environment named by $BENCH_TFLITE_CONVERT_PYTHON")
# onnx2tf pins exact numpy/onnx/TensorFlow versions: it may live in its own environment, whose
# python this variable names (`make tflite-convert` builds one at .venv-onnx2tf).
PYTHON_ENV = "BENCH_TFLITE_CONVERT_PYTHON"
_PRODUCED = {"fp32": "_float32.tflite", "fp16": "_float16.tflite", "int8": "_full_integer_quant.tflite"}
TIMEOUT_S = 1800.0


_PROBE = """
import importlib.util, json
from importlib.metadata import PackageNotFoundError, version
found, missing = {}, [m for m in ("onnx2tf", "tensorflow", "onnx") if importlib.util.find_spec(m) is None]
for key, dists in (("onnx2tf", ("onnx2tf",)), ("tensorflow", ("tensorflow", "tensorflow-cpu"))):
    for dist in dists:
        try:
            found[key] = version(dist)
            break
        except PackageNotFoundError:
            continue
print(json.dumps({"versions": found, "missing": missing}))
"""


def converter_python() -> str:
    """The Python that runs onnx2tf: $BENCH_TFLITE_CONVERT_PYTHON, else this one."""
    return os.environ.get(PYTHON_ENV) or sys.executable


@functools.lru_cache(maxsize=4)
def _probe(python: str) -> dict[str, Any]:
    if python == sys.executable:
        scope: dict[str, Any] = {}
        import contextlib
        import io
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(_PROBE, scope)  # the same check in this process: no child needed
        return json.loads(out.getvalue())
    try:
        proc = subprocess.run([python, "-c", _PROBE], capture_output=True, text=True, timeout=120)
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.TimeoutExpired, ValueError, IndexError) as e:
        return {"versions": {}, "missing": ["onnx2tf", "tensorflow", "onnx"],
                "error": f"${PYTHON_ENV}={python} cannot be run: {e}"}


def converter_versions() -> dict[str, str]:
    """Installed versions of onnx2tf and TensorFlow in the converter's Python (empty when absent),
    without importing them."""
    return dict(_probe(converter_python())["versions"])


def converter_missing() -> str | None:
    """Why ONNX cannot be converted here (the extra's hint and what is missing), or None."""
    probe = _probe(converter_python())
    if probe.get("error"):
        return f"{EXTRA_HINT} ({probe['error']})"
    if probe["missing"]:
        where = f" in {converter_python()}" if converter_python() != sys.executable else ""
        return f"{EXTRA_HINT} (missing{where}: {', '.join(probe['missing'])})"
    return None


def convert(model_path: Path, precision: str, workdir: Path,
            calibration: list[dict[str, np.ndarray]] | None) -> Artifact:
    """Convert an ONNX model to a .tflite of `precision` in `workdir` (plus its layout file).

    Raises:
        UnsupportedVariant: onnx2tf, TensorFlow or onnx is not installed here (the reason names
            them), or int8 of a model with non-float inputs (onnx2tf calibrates floats only).
        ModelError: onnx2tf failed; its last error line is kept.
    """
    _require_converter()
    job = workdir / "onnx2tf"
    job.mkdir(parents=True, exist_ok=True)
    source = job / "model.onnx"
    shutil.copyfile(model_path, source)  # onnx2tf rewrites the file it is given
    spec: dict[str, Any] = {
        "onnx": str(source), "out": str(job / "out"), "artifact": f"model{_PRODUCED[precision]}",
        "int8": precision == "int8",
        "calibration": _write_calibration(job, calibration) if precision == "int8" else None}
    (job / "spec.json").write_text(json.dumps(spec))
    t0 = time.perf_counter()
    result = _run_child(job, model_path.name)
    artifact = workdir / "model.tflite"
    os.replace(job / "out" / spec["artifact"], artifact)
    result["layout"]["source"] = f"{model_path.name} (onnx2tf {result['versions'].get('onnx2tf')})"
    Layout.path_for(artifact).write_text(json.dumps(result["layout"], indent=1))
    shutil.rmtree(job, ignore_errors=True)
    return Artifact(path=str(artifact), precision=precision, compile_s=time.perf_counter() - t0,
                    size_bytes=artifact.stat().st_size, tool_versions=result["versions"])


def _require_converter() -> None:
    # Boards do not get onnx2tf and TensorFlow by default: a variant that needs them is skipped,
    # naming them, rather than counted against the device.
    why = converter_missing()
    if why:
        raise UnsupportedVariant(f"tflite: {why}")


def _write_calibration(job: Path, calibration: list[dict[str, np.ndarray]] | None) -> dict | None:
    """One .npy per input, the sets stacked on the batch axis (ONNX layout; the child transposes)."""
    if not calibration:
        return None
    paths = {}
    for i, name in enumerate(calibration[0]):
        path = job / f"calibration_{i}.npy"
        np.save(path, np.concatenate([np.asarray(s[name]) for s in calibration], axis=0))
        paths[name] = str(path)
    return paths


def _run_child(job: Path, model_name: str) -> dict[str, Any]:
    agents_root = str(Path(__file__).resolve().parents[3])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([agents_root, os.environ.get("PYTHONPATH", "")]),
           "TF_CPP_MIN_LOG_LEVEL": "2",
           # TensorFlow would otherwise claim all GPU memory of the board, for a CPU-only job.
           "CUDA_VISIBLE_DEVICES": "-1"}
    cmd = [converter_python(), "-m", "agents.engines.tflite.onnx2tf", str(job / "spec.json")]
    try:
        proc = subprocess.run(cmd, cwd=job, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise InfraError(f"onnx2tf ran longer than {TIMEOUT_S:g} s on {model_name}") from None
    result_file = job / "result.json"
    result = json.loads(result_file.read_text()) if result_file.is_file() else {}
    if result.get("unsupported"):
        raise UnsupportedVariant(f"tflite: {result['unsupported']}")
    if proc.returncode != 0 or "layout" not in result:
        raise ModelError(f"onnx2tf could not convert {model_name}: {_last_error(proc)}")
    return result


def _last_error(proc: subprocess.CompletedProcess) -> str:
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip()
             for line in (proc.stdout + "\n" + proc.stderr).splitlines()]
    lines = [line for line in lines if line]
    errors = [line for line in lines if re.search(r"error|exception", line, re.IGNORECASE)]
    return clip((errors or lines or [f"exit code {proc.returncode}"])[-1])


@dataclass
class Layout:
    """How a converted model's tensors map to the source ONNX model's.

    `inputs`/`outputs`: one entry per TFLite tensor in the Interpreter's order, {"name": TFLite
    name, "source": ONNX name, "perm": axes such that tflite = onnx.transpose(perm), or None}.
    """

    source: str
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    reference_outputs: list[str]

    @staticmethod
    def path_for(artifact: Path) -> Path:
        """Where the layout of the artifact at `artifact` is stored."""
        return artifact.with_suffix(".layout.json")

    @classmethod
    def read(cls, artifact: Path) -> Layout | None:
        """The layout stored beside a converted artifact; None for a .tflite given directly."""
        path = cls.path_for(artifact)
        return cls(**json.loads(path.read_text())) if path.is_file() else None

    def name(self, kind: str, position: int) -> str:
        """The ONNX name of the TFLite input/output at `position`: users and data use those."""
        return getattr(self, kind)[position]["source"]

    def tflite_shapes(self, shapes: dict[str, list[int]]) -> dict[str, list[int]]:
        """User shapes, given in the ONNX layout, in the TFLite layout (scalars become [1])."""
        perms = {e["source"]: e["perm"] for e in self.inputs}
        out = {k: [v[a] for a in perms[k]] if perms.get(k) and len(v) == len(perms[k]) else v
               for k, v in shapes.items()}
        return {**out, **{e["source"]: [1] for e in self.inputs if e.get("scalar")}}

    def to_tflite(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Reference feeds (ONNX names and layouts) as this model's feeds; inputs missing from
        `feeds` stay missing (user data may cover some inputs only)."""
        return {e["source"]: _to_tflite(np.asarray(feeds[e["source"]]), e) for e in self.inputs
                if e["source"] in feeds}

    def to_reference(self, outputs: list[np.ndarray]) -> list[np.ndarray]:
        """This model's outputs in the ONNX model's output order and layouts."""
        by_source = {e["source"]: (arr, e) for e, arr in zip(self.outputs, outputs)}
        return [_to_reference(*by_source[name]) for name in self.reference_outputs]

    def note(self) -> str:
        """One line for the run: what was transposed."""
        def part(e: dict[str, Any]) -> str:
            how = f"transposed {tuple(e['perm'])}" if e["perm"] else "as is"
            how = "scalar as [1]" if e.get("scalar") else how
            return f"'{e['source']}' {how}"
        parts = [f"input {part(e)}" for e in self.inputs] + [f"output {part(e)}" for e in self.outputs]
        return f"converted from {self.source}: " + ", ".join(parts)


def _to_tflite(value: np.ndarray, entry: dict[str, Any]) -> np.ndarray:
    if entry.get("scalar"):
        return value.reshape(1)
    return np.ascontiguousarray(value.transpose(entry["perm"])) if entry["perm"] else value


def _to_reference(value: np.ndarray, entry: dict[str, Any]) -> np.ndarray:
    if entry.get("scalar"):
        return value.reshape(())
    return value.transpose(np.argsort(entry["perm"])) if entry["perm"] else value
