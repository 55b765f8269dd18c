"""ONNX -> a TVM library for the host CPU (Relax ONNX frontend, `llvm` target), in a child process.

The parent (`compile_library`) writes a spec and runs `python -m agents.engines.tvm.compile
SPEC.json` in the conversion's directory; the child imports the ONNX model with the inputs'
concrete shapes, lowers it with Relax's CPU pipeline and exports `model.so`. A child, because
TVM's compiler can abort or segfault on models it does not handle (a dead agent would be an
infra-error; a dead child is the model's `model-error` with TVM's message), and because its
compiler state has no business in the process that measures.

Schedules: the operators keep the default TIR that LegalizeOps generates, with DLight's CPU
rules (GEMV, reductions) applied; convolutions and matmuls are not tuned. MetaSchedule tuning
is not offered: tried on apache-tvm 0.27 here, the `static_shape_tuning` pipeline segfaulted
writing its JSON database (tvm::ffi::ToJSONGraph) and `meta_schedule.relax_integration.
tune_relax` reported no tasks for the imported modules. Untuned TVM is far slower than the other
engines on convolutions; the numbers say what TVM does without a tuning log, not what it can
do with one.

Exporting the library links it with the system C compiler (`cc`), which the board needs.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from agents.engines.base import TensorInfo
from agents.errors import InfraError, ModelError, clip

TIMEOUT_S = 900
LIBRARY = "model.so"
RESULT = "result.json"


def host_target() -> dict[str, Any]:
    """The `llvm` target for this CPU: its LLVM name (e.g. znver4, cortex-a76) and cores."""
    import tvm

    from agents.probe import physical_cores

    target = {"kind": "llvm", "mcpu": tvm.target.codegen.llvm_get_system_cpu(),
              "num-cores": physical_cores()}
    if os.uname().machine in ("aarch64", "arm64"):
        target["mtriple"] = "aarch64-linux-gnu"
    return target


def compile_library(model_path: Path, inputs: list[TensorInfo], workdir: Path,
                    target: dict[str, Any]) -> tuple[Path, dict[str, Any]]:
    """Compile the model for `target` into `workdir/model.so`.

    Returns:
        (the library, the child's result: versions, schedules, target).
    Raises:
        ModelError: TVM could not import or compile the model; its last error line is kept.
        InfraError: the compile ran past TIMEOUT_S.
    """
    spec = {"onnx": str(model_path), "out": str(workdir / LIBRARY), "target": target,
            "shapes": {t.name: list(t.shape) for t in inputs},
            "dtypes": {t.name: t.dtype for t in inputs}}
    (workdir / "spec.json").write_text(json.dumps(spec))
    agents_root = str(Path(__file__).resolve().parents[3])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([agents_root, os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "agents.engines.tvm.compile", str(workdir / "spec.json")]
    try:
        proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True,
                              timeout=TIMEOUT_S, errors="replace")
    except subprocess.TimeoutExpired:
        raise InfraError(f"TVM compiled {model_path.name} for longer than {TIMEOUT_S} s") from None
    result_file = workdir / RESULT
    if proc.returncode != 0 or not result_file.is_file():
        raise ModelError(f"tvm could not compile {model_path.name}: {_last_error(proc)}")
    result = json.loads(result_file.read_text())
    result_file.unlink()
    (workdir / "spec.json").unlink()
    return workdir / LIBRARY, result


def _last_error(proc: subprocess.CompletedProcess) -> str:
    lines = [line.strip() for line in (proc.stdout + "\n" + proc.stderr).splitlines()]
    lines = [line for line in lines if line and not line.startswith(("File ", "Traceback"))]
    errors = [line for line in lines if re.search(r"error|exception|not supported|unsupported",
                                                  line, re.IGNORECASE)]
    tail = clip((errors or lines or [""])[-1])
    crash = f" (the compiler died with signal {-proc.returncode})" if proc.returncode < 0 else ""
    return (tail or f"exit code {proc.returncode}") + crash


def main(argv: list[str]) -> int:
    """The child: compile as SPEC.json says and write result.json beside it."""
    spec = json.loads(Path(argv[0]).read_text())
    import onnx
    import tvm
    from tvm import relax
    from tvm.relax.frontend.onnx import from_onnx
    from tvm.s_tir import dlight as dl

    t0 = time.perf_counter()
    mod = from_onnx(onnx.load(spec["onnx"]), shape_dict=spec["shapes"], dtype_dict=spec["dtypes"],
                    keep_params_in_input=False)
    target = tvm.target.Target(spec["target"])
    with target:
        mod = relax.get_pipeline("zero")(mod)
        mod = dl.ApplyDefaultSchedule(dl.cpu.GEMV(), dl.cpu.Reduction())(mod)
    executable = tvm.compile(mod, target=target)
    executable.export_library(spec["out"])
    Path(RESULT).write_text(json.dumps({
        "versions": {"tvm": tvm.__version__, "onnx": onnx.__version__},
        "schedules": "untuned: LegalizeOps TIR + DLight CPU rules (GEMV, reduction)",
        "target": str(target), "compile_s": time.perf_counter() - t0}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
