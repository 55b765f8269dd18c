"""ONNX Runtime engine. The SDK is imported inside methods so that `import agents` stays light."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agents.engines.base import Artifact, Engine, Session, TensorInfo, short_message
from agents.engines.onnxruntime.types import ort_dims, ort_dtype, ort_infos
from agents.errors import PASS_THROUGH, EngineUnavailable, ModelError, UnsupportedVariant, UserError
from agents.inputs import resolve_shapes

_OPT_LEVELS = ("disable", "basic", "extended", "all")


@dataclass
class OnnxRuntimeOptions:
    """ONNX Runtime settings, all recorded with the run.

    threads: intra-op threads (None: ONNX Runtime's default, one per physical core).
    inter_op_threads: threads across independent nodes (only with execution_mode=parallel).
    provider: the execution provider, e.g. CPUExecutionProvider, CUDAExecutionProvider.
    graph_optimization: disable, basic, extended or all.
    execution_mode: sequential or parallel.
    spinning: let idle intra-op threads spin (lower latency, burns a core while idle).
    quantization: int8 method: static (QDQ, calibrated), dynamic (weights int8, activations
        quantized at run time: MatMul-heavy models), or auto (static when the model has
        convolutions, else dynamic).
    per_channel: per-channel weight scales for static int8.
    """

    threads: int | None = None
    inter_op_threads: int | None = None
    provider: str = "CPUExecutionProvider"
    graph_optimization: str = "all"
    execution_mode: str = "sequential"
    spinning: bool = True
    quantization: str = "auto"
    per_channel: bool = True

    def validate(self, source: str) -> None:
        """Reject values ONNX Runtime would misread, naming the option."""
        if self.threads is not None and self.threads < 1:
            raise UserError(f"{source}: threads must be >= 1, got {self.threads}")
        if self.graph_optimization not in _OPT_LEVELS:
            raise UserError(f"{source}: graph_optimization must be one of {', '.join(_OPT_LEVELS)}")
        if self.execution_mode not in ("sequential", "parallel"):
            raise UserError(f"{source}: execution_mode must be sequential or parallel")
        if self.quantization not in ("auto", "static", "dynamic"):
            raise UserError(f"{source}: quantization must be auto, static or dynamic")


class OrtSession(Session):
    """An `InferenceSession` with its input sets passed as plain numpy feeds.

    Several requests in flight are concurrent `run` calls from threads (the default
    `request_pool`): `InferenceSession.run` is thread-safe and releases the GIL, and each
    request has its own feeds. `run_async` was measured no faster (docs/PERFORMANCE.md) and
    runs its callbacks on the intra-op pool the model's kernels use.
    """

    thread_safe_infer = True

    def __init__(self, sess: Any, options: OnnxRuntimeOptions, shapes: dict[str, list[int]]):
        self._sess = sess
        self._options = options
        self._output_names = [o.name for o in sess.get_outputs()]
        self.inputs = [TensorInfo(i.name, ort_dtype(i.type), tuple(shapes[i.name]))
                       for i in sess.get_inputs()]
        self.outputs = [TensorInfo(o.name, ort_dtype(o.type), tuple(ort_dims(o.shape)))
                        for o in sess.get_outputs()]

    def prepare(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {k: np.require(v, requirements="C") for k, v in feeds.items()}

    def infer(self, prepared: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self._sess.run(self._output_names, prepared)

    def to_numpy(self, outputs: list[np.ndarray]) -> list[np.ndarray]:
        return [np.asarray(o) for o in outputs]

    def optimal_requests(self) -> int:
        # Each request runs its kernels on `threads` intra-op threads: enough requests to
        # cover the physical cores, and 1 with ORT's default of one thread per core.
        threads = self._options.threads or _physical_cores()
        return max(1, _physical_cores() // threads)

    def resolved_config(self) -> dict[str, Any]:
        opts = self._options
        return {"provider": self._sess.get_providers()[0],
                "providers": self._sess.get_providers(),
                "intra_op_threads": opts.threads or _physical_cores(),
                "intra_op_threads_source": "option" if opts.threads else "ort-default",
                "inter_op_threads": opts.inter_op_threads,
                "graph_optimization": opts.graph_optimization,
                "execution_mode": opts.execution_mode, "spinning": opts.spinning}

    def close(self) -> None:
        self._sess = None


class OnnxRuntimeEngine(Engine):
    """ONNX Runtime on any of its execution providers."""

    name = "onnxruntime"
    precisions = ("fp32", "fp16", "int8")
    Options = OnnxRuntimeOptions
    compile_keys = ("quantization", "per_channel")
    converter_revision = 2  # 2: float16 models are refused for int8 instead of writing a broken one

    def version(self) -> str:
        return _ort().__version__

    def compile(self, model_path: Path, precision: str, options: Any, workdir: Path,
                calibration: Any = None) -> Artifact:
        if precision not in self.precisions:
            raise UnsupportedVariant(f"onnxruntime: no {precision}; it does "
                                     f"{', '.join(self.precisions)}")
        if precision == "fp32":
            return Artifact(path=str(model_path), precision=precision,
                            size_bytes=os.path.getsize(model_path))
        from agents.engines.onnxruntime import convert as ort_convert

        out = workdir / f"model.{precision}.onnx"
        try:
            if precision == "fp16":
                notes = ort_convert.to_fp16(model_path, out)
            else:
                notes = ort_convert.to_int8(model_path, out, options, calibration, workdir)
        except PASS_THROUGH:
            raise
        except Exception as e:  # the converter's own message is what the user needs
            raise ModelError(f"onnxruntime {precision} conversion failed: {short_message(e)}") from e
        return Artifact(path=str(out), precision=precision, size_bytes=out.stat().st_size,
                        tool_versions={**ort_convert.versions(), **notes})

    def load(self, artifact: Artifact, options: OnnxRuntimeOptions,
             shapes: dict[str, list[int]]) -> Session:
        ort = _ort()
        if options.provider not in ort.get_available_providers():
            raise EngineUnavailable(self.name, f"execution provider {options.provider} is not "
                                    f"available; available: {', '.join(ort.get_available_providers())}")
        try:
            sess = ort.InferenceSession(artifact.path, sess_options=_session_options(ort, options),
                                        providers=[options.provider])
        except Exception as e:  # ORT raises its own Fail/InvalidGraph/NotImplemented types
            raise ModelError(f"onnxruntime cannot load the model: {short_message(e)}") from e
        infos = ort_infos(sess.get_inputs())
        return OrtSession(sess, options, resolve_shapes(infos, shapes))


def _session_options(ort: Any, opts: OnnxRuntimeOptions) -> Any:
    so = ort.SessionOptions()
    if opts.threads:
        so.intra_op_num_threads = opts.threads
    if opts.inter_op_threads:
        so.inter_op_num_threads = opts.inter_op_threads
    levels = {"disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
              "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
              "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
              "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}
    so.graph_optimization_level = levels[opts.graph_optimization]
    so.execution_mode = (ort.ExecutionMode.ORT_PARALLEL if opts.execution_mode == "parallel"
                         else ort.ExecutionMode.ORT_SEQUENTIAL)
    so.add_session_config_entry("session.intra_op.allow_spinning", "1" if opts.spinning else "0")
    so.log_severity_level = 3  # errors only: warnings would interleave with progress output
    return so


def _ort() -> Any:
    try:
        import onnxruntime
    except ImportError as e:
        raise EngineUnavailable("onnxruntime", f"cannot import onnxruntime: {e}") from e
    return onnxruntime


def _physical_cores() -> int:
    from agents.probe import physical_cores
    return physical_cores()
