"""MNN engine: ONNX converted by MNNConvert, run through MNN's Module API (`MNN.nn`) on the CPU.

Timed call: `module.forward(inputs)`, which runs the whole graph before it returns (the Module
API executes eagerly); the inputs are MNN Vars made in `prepare`, the outputs stay Vars until
`to_numpy`. MNN has no int64 or bool tensors: such inputs are fed as int32 (as MNNConvert
declares them), converted in `prepare`.

Runtime precision (`ScheduleConfig` precision) is pinned per variant: fp32 runs with `high`
(MNN's `low` uses fp16 kernels where the CPU has them); fp16 runs the
fp16-weight model with `low`, which computes in fp16 on CPUs with fp16 arithmetic (ARMv8.2)
and in fp32 elsewhere, as the run records (`cpu_fp16_arithmetic`); int8 runs the int8-weight
model with memory mode `low`, in which MNN builds with MNN_LOW_MEMORY quantize activations on
the fly (dynamic int8), and other builds dequantize the weights at load.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from agents.engines import onnx_graph
from agents.engines.base import Artifact, Engine, Session, TensorInfo, short_message
from agents.engines.mnn import convert as mnn_convert
from agents.errors import PASS_THROUGH, EngineUnavailable, ModelError, UnsupportedVariant, UserError
from agents.inputs import resolve_shapes

IO_FILE = "model.io.json"
_PRECISION = {"fp32": "high", "fp16": "low", "int8": "high"}
_MEMORY = {"fp32": "normal", "fp16": "normal", "int8": "low"}
# numpy dtype of the model's input -> what MNN is fed (MNN has no 64-bit or bool tensors).
_FEED = {"float32": "float32", "float16": "float32", "float64": "float32", "int64": "int32",
         "int32": "int32", "bool": "int32", "uint8": "uint8", "int8": "int8"}


@dataclass
class MnnOptions:
    """MNN settings, all recorded with the run.

    threads: `numThread` of the CPU backend (None: MNN's default, 4).
    precision: override the runtime precision the variant pins (high, normal, low).
    memory: override the memory mode the variant pins (normal, high, low).
    """

    threads: int | None = None
    precision: str | None = None
    memory: str | None = None

    def validate(self, source: str) -> None:
        """Reject values MNN would misread, naming the option."""
        if self.threads is not None and self.threads < 1:
            raise UserError(f"{source}: threads must be >= 1, got {self.threads}")
        for key in ("precision", "memory"):
            value = getattr(self, key)
            if value is not None and value not in ("high", "normal", "low"):
                raise UserError(f"{source}: {key} must be high, normal or low, got {value!r}")


class MnnSession(Session):
    """A loaded MNN Module; each prepared input set is a list of Vars in the model's input order."""

    def __init__(self, module: Any, inputs: list[TensorInfo], outputs: list[TensorInfo],
                 config: dict[str, Any]):
        self._module, self._config = module, config
        self.inputs, self.outputs = inputs, outputs

    def prepare(self, feeds: dict[str, np.ndarray]) -> list[Any]:
        import MNN.expr as F

        types = {"float32": F.float, "int32": F.int, "uint8": F.uint8, "int8": F.int8}
        prepared = []
        for t in self.inputs:
            dtype = _FEED[t.dtype]
            arr = np.require(feeds[t.name], dtype, "C")  # keeps a scalar 0-d
            prepared.append(F.const(arr, list(arr.shape), F.NCHW, types[dtype]))
        return prepared

    def infer(self, prepared: list[Any]) -> list[Any]:
        return self._module.forward(prepared)

    def to_numpy(self, outputs: list[Any]) -> list[np.ndarray]:
        return [np.array(o.read()) for o in outputs]

    def optimal_requests(self) -> int:
        return 1

    def resolved_config(self) -> dict[str, Any]:
        return self._config

    def close(self) -> None:
        self._module = None


class MnnEngine(Engine):
    """Alibaba MNN on the CPU backend."""

    name = "mnn"
    precisions = ("fp32", "fp16", "int8")
    Options = MnnOptions
    formats = (".onnx",)
    calibrates = False  # int8 is weight-only (the wheel's offline quantizer aborts at start)

    def version(self) -> str:
        _mnn()
        return mnn_convert.versions().get("MNN") or "unknown"

    def target(self, options: Any) -> str:
        # A .mnn runs on any CPU: it depends on the converter, not the board.
        return f"any-cpu;MNN={self.version()}"

    def compile(self, model_path: Path, precision: str, options: Any, workdir: Path,
                calibration: Any = None) -> Artifact:
        if precision not in self.precisions:
            raise UnsupportedVariant(f"mnn: no {precision}; it does {', '.join(self.precisions)}")
        inputs, outputs = onnx_graph.graph_io(model_path)
        _check_inputs(inputs)
        _mnn()
        try:
            out, notes = mnn_convert.convert(model_path, precision, workdir)
        except PASS_THROUGH:
            raise
        except Exception as e:  # an OS error starting the converter
            raise ModelError(f"mnn {precision} conversion failed: {short_message(e)}") from e
        io = {kind: [{"name": t.name, "dtype": t.dtype, "shape": list(t.shape)} for t in infos]
              for kind, infos in (("inputs", inputs), ("outputs", outputs))}
        (workdir / IO_FILE).write_text(json.dumps(io, indent=1))
        return Artifact(path=str(out), precision=precision, size_bytes=out.stat().st_size,
                        tool_versions=notes)

    def load(self, artifact: Artifact, options: MnnOptions,
             shapes: dict[str, list[int]]) -> Session:
        _mnn()
        import MNN.nn as nn

        # The .mnn keeps the ONNX names; the source model says their dtypes and dynamic dims.
        infos, outputs = _io(artifact)
        resolved = resolve_shapes(infos, shapes)
        config = _schedule(options, artifact.precision)
        printed: list[str] = []
        try:
            with quiet_stdout() as printed:
                runtime = nn.create_runtime_manager((config,))
                module = nn.load_module_from_file(artifact.path, [t.name for t in infos],
                                                  [t.name for t in outputs], runtime_manager=runtime,
                                                  shape_mutable=True)
        except Exception as e:  # MNN raises plain RuntimeError/ValueError; its log says why
            said = "; ".join(printed[-3:])
            raise ModelError(f"mnn cannot load {Path(artifact.path).name}: {short_message(e)}"
                             + (f" (MNN: {said})" if said else "")) from e
        concrete = [TensorInfo(t.name, t.dtype, tuple(resolved[t.name])) for t in infos]
        recorded = {"backend": config["backend"], "threads": config["numThread"],
                    "threads_source": "option" if options.threads else "mnn-default",
                    "precision": config["precision"], "memory": config["memory"],
                    "cpu_fp16_arithmetic": cpu_fp16_arithmetic(),
                    "weights": artifact.tool_versions.get("conversion")}
        return MnnSession(module, concrete, outputs, recorded)


def _io(artifact: Artifact) -> tuple[list[TensorInfo], list[TensorInfo]]:
    io = json.loads((Path(artifact.path).parent / IO_FILE).read_text())
    return ([TensorInfo(e["name"], e["dtype"], tuple(e["shape"])) for e in io["inputs"]],
            [TensorInfo(e["name"], e["dtype"], tuple(e["shape"])) for e in io["outputs"]])


def _check_inputs(inputs: list[TensorInfo]) -> None:
    for t in inputs:
        if t.dtype not in _FEED:
            raise UnsupportedVariant(f"mnn: input '{t.name}' is {t.dtype}; MNN takes float, "
                                     "integer and bool inputs")


def _schedule(options: MnnOptions, precision: str) -> dict[str, Any]:
    return {"backend": "CPU", "numThread": options.threads or 4,
            "precision": options.precision or _PRECISION[precision],
            "memory": options.memory or _MEMORY[precision]}


def cpu_fp16_arithmetic() -> bool:
    """Whether this CPU has fp16 arithmetic MNN's `low` precision uses (ARMv8.2 asimdhp)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(line.startswith("Features") and "asimdhp" in line.split()
               for line in text.splitlines())


@contextlib.contextmanager
def quiet_stdout() -> Iterator[list[str]]:
    """Capture what MNN's C++ code prints on stdout ("The device supports: ...", "MNN use high
    precision"): the agent's stdout carries its JSON result, and the CLI prints one line per
    error. Yields a list that holds the captured lines once the block has left."""
    captured: list[str] = []
    sys.stdout.flush()
    saved = os.dup(1)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 1)
        try:
            yield captured
        finally:
            ctypes.CDLL(None).fflush(None)  # C stdio buffers, before fd 1 is restored
            os.dup2(saved, 1)
            os.close(saved)
            tmp.seek(0)
            captured.extend(line for line in tmp.read().decode(errors="replace").splitlines()
                            if line.strip())


def _mnn() -> Any:
    try:
        with quiet_stdout():
            import MNN
    except ImportError as e:
        raise EngineUnavailable("mnn", f"cannot import MNN: {e}; pip install benchlab[mnn]") from e
    return MNN
