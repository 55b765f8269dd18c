"""Build a TensorRT plan from ONNX: precision, optimization profile, timing cache, serialize.

Written against TensorRT 10 and 11. TensorRT 11 removed weak typing (BuilderFlag.FP16/INT8,
the int8 calibrator, platform_has_fast_*): every network is strongly typed, so fp16 there means
an ONNX graph converted to fp16 first, and int8 means Q/DQ nodes (see `int8.py`). Which route
a build took is written into the artifact's tool_versions.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from pathlib import Path
from typing import Any

from agents.engines.base import TensorInfo
from agents.engines.shapes import parse_shapes
from agents.engines.tensorrt import int8 as trt_int8
from agents.engines.tensorrt.cuda import DeviceInfo
from agents.engines.tensorrt.profile import Profile, profile_shapes
from agents.errors import ModelError, UnsupportedVariant, clip

PLAN = "model.plan"
IO = "io.json"  # the network's input and output names in ONNX order (the accuracy check's order)


def make_logger(trt: Any) -> Any:
    """A TensorRT logger that keeps errors (for messages) and drops the rest."""

    class Logger(trt.ILogger):
        def __init__(self) -> None:
            trt.ILogger.__init__(self)
            self.errors: list[str] = []

        def log(self, severity: Any, msg: str) -> None:
            if severity in (trt.ILogger.Severity.INTERNAL_ERROR, trt.ILogger.Severity.ERROR):
                self.errors.append(clip(" ".join(str(msg).split())))

    return Logger()


def fast_by_capability(precision: str, major: int, minor: int) -> bool:
    """Whether a GPU of this compute capability has fast fp16 / int8 math.

    Used where TensorRT no longer answers (`platform_has_fast_*` went in TensorRT 11): fp16
    runs at full rate on sm_53, sm_60, sm_62 and sm_70 on; int8 dot products (dp4a) from sm_61.
    """
    cc = (major, minor)
    if precision == "fp16":
        return cc in ((5, 3), (6, 0), (6, 2)) or cc >= (7, 0)
    if precision == "int8":
        return cc >= (6, 1)
    return True


def weak_typing(trt: Any) -> bool:
    """True on TensorRT 10 (precision builder flags exist), False on 11 (always strongly typed)."""
    return hasattr(trt.BuilderFlag, "FP16")


def default_timing_cache(workdir: Path, target: str) -> Path:
    """Beside the artifacts: `<cache root>/tensorrt-timing/<gpu, sm, TensorRT>.cache`.

    `workdir` is a fresh directory inside the artifact cache root (see agents.compile).
    """
    return workdir.parent / "tensorrt-timing" / (re.sub(r"[^A-Za-z0-9._-]+", "-", target) + ".cache")


def build(trt: Any, model: Path, precision: str, options: Any, workdir: Path, calibration: Any,
          device: DeviceInfo, opt: dict[str, list[int]], timing_cache: Path | None) -> tuple[Path, dict]:
    """Build `model` for `precision` into `workdir/model.plan`.

    Args:
        trt: the tensorrt module.
        opt: the optimum shape of each dynamic input (the user's --shape / opt_shapes).
        timing_cache: the timing cache file to read and update, or None.
    Returns:
        (the plan's path, notes for the artifact's tool_versions).
    Raises:
        UnsupportedVariant: this GPU or TensorRT cannot do `precision`.
        UserError: a bad profile request, naming the input.
        ModelError: the parser or the builder failed, with TensorRT's messages.
    """
    t0 = time.perf_counter()
    logger = make_logger(trt)
    builder = trt.Builder(logger)
    config = builder.create_builder_config()
    notes: dict[str, str] = {"tensorrt": trt.__version__}
    source, strong, calibrate = _precision(trt, builder, config, model, precision, options,
                                           workdir, calibration, device, notes)
    network, _parser = _parse(trt, builder, source, strong, logger)  # owns the weights: keep it
    profile, shapes = _profile(trt, builder, config, network, opt, options)
    notes["profile"] = json.dumps(shapes) if shapes else "static shapes"
    _limits(trt, config, options)
    cache, notes["timing_cache"] = _load_timing_cache(config, timing_cache)
    serialized = _build_serialized(trt, builder, network, config, calibration, calibrate, profile)
    if serialized is None:
        raise ModelError(f"tensorrt {precision} build failed: " +
                         ("; ".join(logger.errors[-3:]) or "build_serialized_network returned None"))
    if cache is not None and timing_cache is not None:
        _save_timing_cache(cache, timing_cache)
    plan = _write(workdir, serialized, network, source, model)
    notes.update(build_s=f"{time.perf_counter() - t0:.3f}", plan_bytes=str(plan.stat().st_size))
    return plan, notes


def _precision(trt: Any, builder: Any, config: Any, model: Path, precision: str, options: Any,
               workdir: Path, calibration: Any, device: DeviceInfo,
               notes: dict) -> tuple[Path, bool, bool]:
    """(ONNX file to parse, strongly typed?, run the calibrator?), with the config's flags set."""
    if hasattr(trt.BuilderFlag, "TF32") and not options.tf32:
        config.clear_flag(trt.BuilderFlag.TF32)  # on by default: fp32 would not mean fp32
    notes["tf32"] = "allowed" if options.tf32 else "off"
    if precision == "fp32":
        notes["precision"] = "fp32"
        return model, False, False
    attr = f"platform_has_fast_{precision}"
    fast = getattr(builder, attr) if hasattr(builder, attr) else \
        fast_by_capability(precision, device.major, device.minor)
    if not fast:
        raise UnsupportedVariant(f"tensorrt: {device.name} (compute capability "
                                 f"{device.compute_capability}) has no fast {precision}")
    if precision == "fp16":
        return _fp16(trt, config, model, workdir, notes)
    return _int8(trt, config, model, options, workdir, calibration, notes)


def _fp16(trt: Any, config: Any, model: Path, workdir: Path, notes: dict) -> tuple[Path, bool, bool]:
    if weak_typing(trt):
        config.set_flag(trt.BuilderFlag.FP16)
        notes["precision"] = "fp16 builder flag (TensorRT may keep a layer in fp32 where faster)"
        return model, False, False
    from agents import requirements
    from agents.engines.onnxruntime import convert as ort_convert

    out = workdir / "model.fp16.onnx"
    # This TensorRT has no fp16 builder flag: the graph is converted first, by onnxruntime's
    # converter; a board without it skips the variant, naming what to install.
    requirements.require("tensorrt", "fp16", only=(requirements.ONNXRUNTIME, requirements.ONNX))
    ort_convert.to_fp16(model, out, engine="tensorrt")
    notes["precision"] = "fp16 graph (onnxruntime float16, keep_io_types), strongly typed"
    return out, True, False


def _int8(trt: Any, config: Any, model: Path, options: Any, workdir: Path, calibration: Any,
          notes: dict) -> tuple[Path, bool, bool]:
    route = trt_int8.choose_route(model, options.quantization,
                                  hasattr(trt, "IInt8EntropyCalibrator2"), trt.__version__)
    notes["int8_route"] = route
    how = "generated data" if calibration is None or calibration.generated else "user data"
    if route == "qdq-model":
        notes["quantization"] = "explicit Q/DQ: the model's own scales (calibration data unused)"
        return model, True, False
    if route == "calibrator":
        config.set_flag(trt.BuilderFlag.INT8)
        notes["quantization"] = f"implicit int8, IInt8EntropyCalibrator2 (deprecated) on {how}"
        return model, False, True
    out = workdir / "model.qdq.onnx"
    notes["quantization"] = (f"explicit Q/DQ inserted by {trt_int8.quantize_qdq(model, out, calibration, workdir)}"
                             f", calibrated on {how}")
    return out, True, False


def _parse(trt: Any, builder: Any, source: Path, strong: bool, logger: Any) -> tuple[Any, Any]:
    flags = 0
    if strong and weak_typing(trt):  # TensorRT 11 networks are strongly typed anyway
        flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(source)):
        errors = [" ".join(str(parser.get_error(i)).split()) for i in range(parser.num_errors)]
        raise ModelError("tensorrt cannot parse the model: " +
                         "; ".join((errors or logger.errors or ["no reason given"])[:3]))
    return network, parser


def network_inputs(trt: Any, network: Any) -> list[TensorInfo]:
    """The network's inputs as TensorInfo (dynamic dims None)."""
    out = []
    for i in range(network.num_inputs):
        t = network.get_input(i)
        if getattr(t, "is_shape_tensor", False):
            raise ModelError(f"tensorrt: input '{t.name}' is a shape tensor; benchlab feeds "
                             "execution tensors only")
        dims = tuple(int(d) if d >= 0 else None for d in t.shape)
        out.append(TensorInfo(t.name, numpy_dtype(trt, t.dtype, t.name), dims))
    return out


def numpy_dtype(trt: Any, dtype: Any, name: str) -> str:
    """The numpy dtype name of a TensorRT DataType, or ModelError (bf16, fp8 ... have none)."""
    import numpy as np

    try:
        return np.dtype(trt.nptype(dtype)).name
    except TypeError:
        raise ModelError(f"tensorrt: tensor '{name}' has type {dtype}, which numpy cannot hold") from None


def _profile(trt: Any, builder: Any, config: Any, network: Any, opt: dict,
             options: Any) -> tuple[Any, Profile]:
    shapes = profile_shapes(network_inputs(trt, network), opt,
                            parse_shapes(options.min_shapes, "min_shapes"),
                            parse_shapes(options.max_shapes, "max_shapes"))
    if not shapes:
        return None, {}
    profile = builder.create_optimization_profile()
    for name, (low, best, high) in shapes.items():
        profile.set_shape(name, tuple(low), tuple(best), tuple(high))
    config.add_optimization_profile(profile)
    return profile, shapes


def _limits(trt: Any, config: Any, options: Any) -> None:
    if options.workspace_mb is not None:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, options.workspace_mb << 20)
    if options.builder_optimization_level is not None:
        config.builder_optimization_level = options.builder_optimization_level


def _build_serialized(trt: Any, builder: Any, network: Any, config: Any, calibration: Any,
                      calibrate: bool, profile: Any) -> Any:
    if not calibrate:
        return builder.build_serialized_network(network, config)
    calibrator = trt_int8.make_calibrator(trt, calibration.sets(network_inputs(trt, network)))
    config.int8_calibrator = calibrator
    if profile is not None:
        config.set_calibration_profile(profile)  # calibrate at the optimum shapes
    try:
        return builder.build_serialized_network(network, config)
    finally:
        calibrator.close()


def _load_timing_cache(config: Any, path: Path | None) -> tuple[Any, str]:
    if path is None:
        return None, "off"
    data = path.read_bytes() if path.is_file() else b""
    try:
        cache = config.create_timing_cache(data)
        if config.set_timing_cache(cache, False):
            return cache, f"{path} ({'read ' + str(len(data)) + ' bytes' if data else 'new'})"
    except Exception:  # a truncated or foreign cache file: start a new one
        pass
    cache = config.create_timing_cache(b"")
    config.set_timing_cache(cache, False)
    return cache, f"{path} (unusable; started anew)"


def _save_timing_cache(cache: Any, path: Path) -> None:
    # Atomic replace: two builds at once each write a whole file; the last one wins.
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    tmp.write_bytes(bytes(cache.serialize()))
    os.replace(tmp, path)


def _write(workdir: Path, serialized: Any, network: Any, source: Path, model: Path) -> Path:
    plan = workdir / PLAN
    plan.write_bytes(bytes(serialized))
    io = {"inputs": [network.get_input(i).name for i in range(network.num_inputs)],
          "outputs": [network.get_output(i).name for i in range(network.num_outputs)]}
    (workdir / IO).write_text(json.dumps(io))
    if source != model:
        source.unlink(missing_ok=True)  # the intermediate fp16/Q-DQ ONNX is not the artifact
    return plan
