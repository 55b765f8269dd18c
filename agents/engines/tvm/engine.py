"""Apache TVM engine: ONNX compiled by Relax for the host CPU (`llvm -mcpu=<this CPU>`), run
by the Relax virtual machine.

The artifact is the exported library (`model.so`), specific to the CPU it was compiled for:
the cache key's target is the LLVM CPU name, the core count and TVM's version. Input shapes are
baked in at compile time (`input_shapes`, filled from --shape). fp32 only: Relax's fp16
rewrite (ToMixedPrecision) is made for GPU targets, and Relax has no post-training int8
quantization (Relay's went with Relay); both are skipped with that reason. The operators are
untuned (see compile.py), so TVM's latencies here are those of default schedules.

Timed call: `vm["main"](*inputs)` with the inputs already in TVM tensors (`prepare`); the
outputs stay TVM tensors until `to_numpy`. Threads: TVM's runtime thread pool, sized by
TVM_NUM_THREADS when it starts (at load); TVM pins its threads to cores, and the run records the
pool size and the process's CPU affinity after load.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agents.engines import onnx_graph
from agents.engines.base import Artifact, Engine, Session, TensorInfo, short_message
from agents.errors import PASS_THROUGH, EngineUnavailable, ModelError, UnsupportedVariant, UserError

IO_FILE = "model.io.json"
_SKIPPED = {
    "fp16": ("tvm: no fp16 on the llvm (CPU) target in this engine: Relax's fp16 rewrite "
             "(ToMixedPrecision) is made for GPU targets; fp32 only"),
    "int8": ("tvm: no int8: Relax has no post-training quantization for ONNX models (Relay and "
             "its relay.quantize are gone from TVM 0.2x); fp32 only"),
}


@dataclass
class TvmOptions:
    """TVM settings, all recorded with the run.

    threads: threads of TVM's runtime pool (None: TVM's own default; 1 on this 2-vCPU VM).
    input_shapes: the shapes compiled into the library, `name:1x3x224x224,...` (filled from
        --shape; part of the cache key).
    """

    threads: int | None = None
    input_shapes: str | None = None

    def validate(self, source: str) -> None:
        """Reject values TVM would misread, naming the option."""
        if self.threads is not None and self.threads < 1:
            raise UserError(f"{source}: threads must be >= 1, got {self.threads}")
        onnx_graph.validate_shapes(self.input_shapes, source)


class TvmSession(Session):
    """The Relax VM's `main` with the inputs as TVM tensors on the CPU device."""

    def __init__(self, vm: Any, device: Any, inputs: list[TensorInfo], outputs: list[TensorInfo],
                 config: dict[str, Any]):
        self._main, self._device, self._config = vm["main"], device, config
        self._vm = vm
        self.inputs, self.outputs = inputs, outputs

    def prepare(self, feeds: dict[str, np.ndarray]) -> list[Any]:
        import tvm

        return [tvm.runtime.tensor(np.require(feeds[t.name], t.dtype, "C"), self._device)
                for t in self.inputs]

    def infer(self, prepared: list[Any]) -> Any:
        return self._main(*prepared)

    def to_numpy(self, outputs: Any) -> list[np.ndarray]:
        items = [outputs] if hasattr(outputs, "numpy") else list(outputs)
        return [np.asarray(o.numpy()) for o in items]

    def optimal_requests(self) -> int:
        return 1

    def resolved_config(self) -> dict[str, Any]:
        return self._config

    def close(self) -> None:
        self._main = self._vm = None


class TvmEngine(Engine):
    """Apache TVM (Relax) on the CPU."""

    name = "tvm"
    precisions = ("fp32", "fp16", "int8")
    Options = TvmOptions
    formats = (".onnx",)
    compile_keys = ("input_shapes",)

    def version(self) -> str:
        # From the package metadata: importing tvm takes most of a second, and `bench run`
        # asks every engine for its version before it picks the default engines. A broken
        # install still fails at compile or load, as EngineUnavailable with the import error.
        import importlib.util
        from importlib.metadata import PackageNotFoundError, version

        if importlib.util.find_spec("tvm") is None:
            raise EngineUnavailable("tvm", "cannot import tvm: not installed; pip install benchlab[tvm]")
        try:
            return version("apache-tvm")
        except PackageNotFoundError:  # a TVM built from source
            return _tvm().__version__

    def target(self, options: Any) -> str:
        from agents.engines.tvm.compile import host_target

        t = host_target()
        return f"llvm -mcpu={t['mcpu']} cores={t['num-cores']} tvm {self.version()}"

    def resolve_options(self, options: TvmOptions, shapes: dict[str, list[int]]) -> TvmOptions:
        return onnx_graph.with_shapes(options, shapes)

    def compile(self, model_path: Path, precision: str, options: Any, workdir: Path,
                calibration: Any = None) -> Artifact:
        if precision in _SKIPPED:
            raise UnsupportedVariant(_SKIPPED[precision])
        if precision != "fp32":
            raise UnsupportedVariant(f"tvm: no {precision}; it does fp32")
        _tvm()
        from agents.engines.tvm.compile import compile_library, host_target

        inputs = onnx_graph.concrete_inputs(model_path, options.input_shapes)
        try:
            library, result = compile_library(model_path, inputs, workdir, host_target())
        except PASS_THROUGH:
            raise
        except Exception as e:  # an OS error starting the child, an unreadable result
            raise ModelError(f"tvm compile failed: {short_message(e)}") from e
        _, outputs = onnx_graph.graph_io(model_path)
        io = {kind: [{"name": t.name, "dtype": t.dtype, "shape": list(t.shape)} for t in infos]
              for kind, infos in (("inputs", inputs), ("outputs", outputs))}
        (workdir / IO_FILE).write_text(json.dumps(io, indent=1))
        notes = {**result["versions"], "schedules": result["schedules"], "target": result["target"]}
        return Artifact(path=str(library), precision=precision, size_bytes=library.stat().st_size,
                        tool_versions=notes)

    def load(self, artifact: Artifact, options: TvmOptions,
             shapes: dict[str, list[int]]) -> Session:
        tvm = _tvm()
        from tvm import relax

        threads = _set_threads(tvm, options.threads)
        try:
            vm = relax.VirtualMachine(tvm.runtime.load_module(artifact.path), tvm.cpu())
        except Exception as e:  # TVM raises its own error types
            raise ModelError(f"tvm cannot load {Path(artifact.path).name}: {short_message(e)}") from e
        io = json.loads((Path(artifact.path).parent / IO_FILE).read_text())
        inputs, outputs = ([TensorInfo(e["name"], e["dtype"], tuple(e["shape"])) for e in io[kind]]
                           for kind in ("inputs", "outputs"))
        config = {"threads": threads, "threads_source": "option" if options.threads else "tvm-default",
                  "cpu_affinity": sorted(os.sched_getaffinity(0)),
                  "target": artifact.tool_versions.get("target"),
                  "schedules": artifact.tool_versions.get("schedules"),
                  "input_shapes": options.input_shapes}
        return TvmSession(vm, tvm.cpu(), inputs, outputs, config)


def _set_threads(tvm: Any, threads: int | None) -> int:
    # TVM sizes its pool from TVM_NUM_THREADS when the pool starts (first inference or query);
    # one agent process runs one job, so the pool starts here with this job's setting.
    if threads:
        os.environ["TVM_NUM_THREADS"] = str(threads)
    return int(tvm.runtime.num_threads())


def _tvm() -> Any:
    try:
        import tvm
    except ImportError as e:
        raise EngineUnavailable("tvm", f"cannot import tvm: {e}; pip install benchlab[tvm]") from e
    return tvm
