"""TensorRT engine: builds a plan from ONNX on the GPU that runs it, and times it on one stream.

What is timed (the harness's host clock around `infer`): binding the input set's device
addresses, `execute_async_v3` on one non-default stream and the stream synchronize; with
`include_copies`, also the host-to-device copy of the inputs and the device-to-host copy of the
outputs (from page-locked host memory). Without it, inputs are on the device before timing and
outputs stay there until `to_numpy`. CUDA events around the same work give the device time of
each call, kept apart (`TrtSession.take_device_times_ms`) so the Session interface stays as it
is. Modules of this folder: build (plan), int8 (int8 routes), profile (shapes), session
(load and run), cuda (CUDA runtime calls).

Plans are not portable across GPUs or TensorRT versions: the target (GPU name, compute
capability, TensorRT version) is part of the artifact's cache key. SDKs are imported lazily.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.engines.base import Artifact, Engine, Session, short_message
from agents.engines.shapes import format_shapes, parse_shapes
from agents.engines.tensorrt import cuda as trt_cuda
from agents.errors import PASS_THROUGH, EngineUnavailable, ModelError, UnsupportedVariant, UserError

_QUANTIZATION = ("auto", "qdq", "calibrator")


@dataclass
class TensorRtOptions:
    """TensorRT settings, all recorded with the run.

    device: CUDA device ordinal.
    workspace_mb: limit of the builder's WORKSPACE memory pool (None: TensorRT's default).
    builder_optimization_level: 0-5 (None: TensorRT's default, 3).
    tf32: let fp32 layers use TF32 (TensorRT's own default is on; off here so that fp32 means
        fp32, like trtexec --noTF32).
    opt_shapes: the profile's optimum, `name:1x3x224x224,...`; required for dynamic inputs
        (`TensorRtEngine.with_shapes` fills it from the user's --shape).
    min_shapes / max_shapes: the profile's bounds for dynamic inputs (default: the optimum).
    quantization: int8 route: auto (the model's own Q/DQ, else the calibrator where TensorRT
        has one, else Q/DQ inserted by onnxruntime), qdq (Q/DQ always) or calibrator.
    timing_cache: the builder's timing cache file (None: beside the artifact cache, one file per
        GPU and TensorRT version; "off": none).
    include_copies: time the host<->device copies with the engine call.
    device_timing: record CUDA events around each call (a few microseconds of host time).
    """

    device: int = 0
    workspace_mb: int | None = None
    builder_optimization_level: int | None = None
    tf32: bool = False
    opt_shapes: str | None = None
    min_shapes: str | None = None
    max_shapes: str | None = None
    quantization: str = "auto"
    timing_cache: str | None = None
    include_copies: bool = False
    device_timing: bool = True

    def validate(self, source: str) -> None:
        """Reject values TensorRT would misread, naming the option."""
        if self.device < 0:
            raise UserError(f"{source}: device must be >= 0, got {self.device}")
        if self.workspace_mb is not None and self.workspace_mb < 1:
            raise UserError(f"{source}: workspace_mb must be >= 1, got {self.workspace_mb}")
        level = self.builder_optimization_level
        if level is not None and not 0 <= level <= 5:
            raise UserError(f"{source}: builder_optimization_level must be 0-5, got {level}")
        if self.quantization not in _QUANTIZATION:
            raise UserError(f"{source}: quantization must be one of {', '.join(_QUANTIZATION)}")
        for key in ("opt_shapes", "min_shapes", "max_shapes"):
            parse_shapes(getattr(self, key), f"{source}: {key}")


class TensorRtEngine(Engine):
    """NVIDIA TensorRT on a CUDA GPU."""

    name = "tensorrt"
    precisions = ("fp32", "fp16", "int8")
    Options = TensorRtOptions
    formats = (".onnx",)
    compile_keys = ("workspace_mb", "builder_optimization_level", "tf32", "opt_shapes",
                    "min_shapes", "max_shapes", "quantization")

    def version(self) -> str:
        trt = _trt()
        trt_cuda.device_count()  # TensorRT without a CUDA device is not usable here
        return trt.__version__

    def target(self, options: TensorRtOptions) -> str:
        dev = trt_cuda.open_device(options.device)
        return f"{dev.name} sm_{dev.major}{dev.minor} TensorRT {_trt().__version__}"

    def resolve_options(self, options: TensorRtOptions, shapes: dict[str, list[int]]) -> TensorRtOptions:
        return self.with_shapes(options, shapes)

    def with_shapes(self, options: TensorRtOptions, shapes: dict[str, list[int]]) -> TensorRtOptions:
        """`options` with the user's --shape as the profile optimum (when opt_shapes is unset),
        so that the plan's profile is part of the cache key.

        Args:
            options: validated options.
            shapes: the user's shapes (input name -> dims).
        Returns:
            A copy of `options`.
        """
        if options.opt_shapes or not shapes:
            return options
        return dataclasses.replace(options, opt_shapes=format_shapes(shapes))

    def compile(self, model_path: Path, precision: str, options: Any, workdir: Path,
                calibration: Any = None) -> Artifact:
        if precision not in self.precisions:
            raise UnsupportedVariant(f"tensorrt: no {precision}; it does {', '.join(self.precisions)}")
        trt = _trt()
        dev = trt_cuda.open_device(options.device)
        # The profile comes from the options alone, as they are the cache key (with_shapes).
        opt = parse_shapes(options.opt_shapes, "opt_shapes")
        if precision == "int8":
            calibration = _calibration_at(calibration, opt)
        from agents.engines.tensorrt import build as trt_build

        cache = _timing_cache_path(options, workdir, self.target(options))
        try:
            plan, notes = trt_build.build(trt, model_path, precision, options, workdir,
                                          calibration, dev, opt, cache)
        except PASS_THROUGH:
            raise
        except Exception as e:  # TensorRT's own message is what the user needs
            raise ModelError(f"tensorrt {precision} build failed: {short_message(e)}") from e
        return Artifact(path=str(plan), precision=precision, size_bytes=plan.stat().st_size,
                        tool_versions=notes)

    def load(self, artifact: Artifact, options: TensorRtOptions,
             shapes: dict[str, list[int]]) -> Session:
        from agents.engines.tensorrt.session import open_session

        recorded = {"build": artifact.tool_versions,
                    **{k: getattr(options, k) for k in self.compile_keys}}
        return open_session(_trt(), artifact, options, shapes, recorded)


def _calibration_at(calibration: Any, opt: dict[str, list[int]]) -> Any:
    # TensorRT calibrates at the profile's optimum, so the sets take the optimum's shapes.
    from agents.inputs import Calibration

    if calibration is None:
        return Calibration(None, opt)
    return Calibration(calibration.path, {**calibration.shapes, **opt}, calibration.samples)


def _timing_cache_path(options: TensorRtOptions, workdir: Path, target: str) -> Path | None:
    from agents.engines.tensorrt.build import default_timing_cache

    if options.timing_cache is None:
        return default_timing_cache(workdir, target)
    if options.timing_cache.lower() == "off":
        return None
    return Path(options.timing_cache).expanduser()


def _trt() -> Any:
    try:
        import tensorrt
    except ImportError as e:
        raise EngineUnavailable("tensorrt", f"cannot import tensorrt: {e}") from e
    except OSError as e:  # the bindings import, but libnvinfer or a CUDA library is missing
        raise EngineUnavailable("tensorrt", f"cannot load TensorRT's libraries: {e}") from e
    return tensorrt
