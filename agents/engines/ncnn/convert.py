"""ONNX -> ncnn with pnnx, and the map between the ncnn blobs and the ONNX tensors.

pnnx (the `pnnx` package, ncnn's converter) is a self-contained executable inside the wheel; it
runs as a child process in the conversion's own directory, where it leaves its intermediates
(pnnx.param/bin, *_pnnx.py, *.pnnxsim.onnx), and writes `model.ncnn.param` + `model.ncnn.bin`.
Its Python wrapper imports PyTorch for PyTorch models and is not used: ONNX needs only the
executable. `fp16=0` keeps the weights in fp32 (pnnx's default stores them in fp16).

ncnn has no batch axis: pnnx drops dim 0 (the batch, which must be 1) of every input, names the
inputs in0, in1 ... in ONNX graph order and the outputs out0, out1 ... likewise.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from agents.engines.base import TensorInfo
from agents import requirements
from agents.errors import InfraError, ModelError, UnsupportedVariant, clip

TIMEOUT_S = 600
LAYOUT = "model.io.json"
# pnnx's type suffixes for `inputshape=[1,3,224,224]f32`.
_PNNX_TYPES = {"float32": "f32", "float16": "f16", "float64": "f64", "int64": "i64",
               "int32": "i32", "int16": "i16", "int8": "i8", "uint8": "u8"}
# The dtypes an ncnn Mat holds: float32, or int32 for indices (Embed, Gather ...).
FEED_DTYPES = {"float32": "float32", "float16": "float32", "float64": "float32",
               "int64": "int32", "int32": "int32", "int16": "int32", "int8": "int32", "uint8": "int32"}
MAX_NCNN_DIMS = 4  # w, h, d, c


def pnnx_binary() -> Path:
    """The pnnx executable shipped in the `pnnx` wheel (found without importing PyTorch).

    Raises:
        UnsupportedVariant: the pnnx package is not installed (the variant is skipped).
    """
    import importlib.util

    spec = importlib.util.find_spec("pnnx")
    exe = Path(spec.origin).parent / "pnnx" if spec and spec.origin else None
    if exe is None or not exe.is_file():
        # pnnx's wheel declares PyTorch (several GB) for helpers this conversion never uses.
        raise UnsupportedVariant(f"ncnn: converting ONNX needs {requirements.describe([requirements.PNNX])}")
    if not os.access(exe, os.X_OK):
        exe.chmod(exe.stat().st_mode | 0o111)
    return exe


def versions() -> dict[str, str]:
    """Versions of the converter and the runtime it targets (empty where absent)."""
    found = {}
    for dist in ("pnnx", "ncnn"):
        try:
            found[dist] = version(dist)
        except PackageNotFoundError:
            continue
    return found


def check_inputs(inputs: list[TensorInfo]) -> None:
    """Refuse what ncnn cannot take, naming the input.

    Raises:
        UnsupportedVariant: a scalar, a batch other than 1, too many dims, or a dtype (bool,
            strings) that an ncnn Mat cannot hold.
    """
    for t in inputs:
        if t.dtype not in FEED_DTYPES:
            raise UnsupportedVariant(f"ncnn: input '{t.name}' is {t.dtype}; ncnn takes float and "
                                     "integer inputs only")
        if not t.shape:
            raise UnsupportedVariant(f"ncnn: input '{t.name}' is a scalar; ncnn inputs have 1-4 "
                                     "dims after the batch")
        if t.shape[0] != 1:
            raise UnsupportedVariant(f"ncnn: input '{t.name}' has batch {t.shape[0]} "
                                     f"(shape {list(t.shape)}); ncnn has no batch axis and runs "
                                     "one sample at a time (batch 1)")
        if len(t.shape) - 1 > MAX_NCNN_DIMS:
            raise UnsupportedVariant(f"ncnn: input '{t.name}' has rank {len(t.shape)}; ncnn holds "
                                     f"at most {MAX_NCNN_DIMS} dims after the batch")


def convert(model_path: Path, precision: str, inputs: list[TensorInfo],
            outputs: list[TensorInfo], workdir: Path) -> tuple[Path, dict[str, str]]:
    """Run pnnx on the model with the inputs' concrete shapes.

    Returns:
        (the .param path, notes for the artifact: versions and what pnnx did).
    Raises:
        ModelError: pnnx failed; its error line is kept.
        InfraError: pnnx ran past TIMEOUT_S.
    """
    job = workdir / "pnnx"
    job.mkdir()
    _copy_model(model_path, job / "model.onnx")  # pnnx writes its intermediates beside it
    shapes = ",".join(f"[{','.join(str(d) for d in t.shape)}]{_PNNX_TYPES.get(t.dtype, 'f32')}"
                      for t in inputs)
    cmd = [str(pnnx_binary()), "model.onnx", f"inputshape={shapes}",
           f"fp16={1 if precision == 'fp16' else 0}",
           f"ncnnparam={workdir / 'model.ncnn.param'}", f"ncnnbin={workdir / 'model.ncnn.bin'}"]
    try:
        proc = subprocess.run(cmd, cwd=job, capture_output=True, text=True, timeout=TIMEOUT_S,
                              errors="replace")
    except subprocess.TimeoutExpired:
        raise InfraError(f"pnnx ran longer than {TIMEOUT_S} s on {model_path.name}") from None
    param = workdir / "model.ncnn.param"
    if proc.returncode != 0 or not param.is_file():
        raise ModelError(f"pnnx could not convert {model_path.name}: {_last_error(proc)}")
    shutil.rmtree(job, ignore_errors=True)
    layout = _layout(param, inputs, outputs)
    (workdir / LAYOUT).write_text(json.dumps(layout, indent=1))
    weights = "fp16" if precision == "fp16" else "fp32"
    return param, {**versions(), "conversion": f"pnnx ONNX -> ncnn, {weights} weights, "
                                               f"input shapes {shapes}"}


def _copy_model(model_path: Path, dst: Path) -> None:
    """Copy the model for pnnx, with weights stored outside the .onnx (external data) inlined:
    pnnx converts such a model without error but reads garbage for those weights.

    Raises:
        UnsupportedVariant: external data that does not fit one protobuf (2 GB).
    """
    import onnx
    from onnx.external_data_helper import _get_all_tensors, uses_external_data

    model = onnx.load(str(model_path), load_external_data=False)
    if not any(uses_external_data(t) for t in _get_all_tensors(model)):
        shutil.copyfile(model_path, dst)
        return
    model = onnx.load(str(model_path))
    if model.ByteSize() >= 2**31:
        raise UnsupportedVariant("ncnn: the model's external data is over 2 GB; pnnx reads "
                                 "external data wrongly and it cannot be inlined")
    onnx.save(model, str(dst))


def _layout(param: Path, inputs: list[TensorInfo], outputs: list[TensorInfo]) -> dict[str, Any]:
    """The blob names pnnx gave each ONNX input and output, checked against the .param file.

    Raises:
        ModelError: the .param lacks a blob pnnx should have written.
    """
    blobs = set(param.read_text().split())
    ins = [{"blob": f"in{i}", "source": t.name, "dtype": t.dtype, "shape": list(t.shape)}
           for i, t in enumerate(inputs)]
    outs = [{"blob": f"out{i}", "source": t.name, "rank": len(t.shape), "dtype": t.dtype,
             "shape": list(t.shape)} for i, t in enumerate(outputs)]
    missing = [str(e["blob"]) for e in ins + outs if e["blob"] not in blobs]
    if missing:
        raise ModelError(f"pnnx wrote no blob {', '.join(missing)} for the model's "
                         f"{len(inputs)} input(s) and {len(outputs)} output(s)")
    return {"inputs": ins, "outputs": outs}


def read_layout(param: Path) -> dict[str, Any]:
    """The layout written beside a converted .param."""
    return json.loads((param.parent / LAYOUT).read_text())


def _last_error(proc: subprocess.CompletedProcess) -> str:
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip()
             for line in (proc.stdout + "\n" + proc.stderr).splitlines()]
    lines = [line for line in lines if line and not line.startswith("#")]
    pattern = r"error|fail|unsupported|unexpected|not supported|expect"
    errors = [line for line in lines if re.search(pattern, line, re.IGNORECASE)]
    tail = clip((errors or lines or [""])[-1])
    crash = f" (pnnx exited with signal {-proc.returncode})" if proc.returncode < 0 else ""
    return (tail or f"exit code {proc.returncode}") + crash
