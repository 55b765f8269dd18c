"""OpenVINO engine: reads ONNX or IR, reshapes dynamic inputs, compiles for a device."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agents.engines.base import Artifact, Engine, Session, TensorInfo, short_message
from agents.engines.openvino.tensors import port_info, port_name
from agents.engines.pool import RequestPool
from agents.errors import PASS_THROUGH, EngineUnavailable, ModelError, UnsupportedVariant, UserError
from agents.inputs import resolve_shapes

_HINTS = ("LATENCY", "THROUGHPUT", "CUMULATIVE_THROUGHPUT", "NONE")
_REPORTED = ("PERFORMANCE_HINT", "NUM_STREAMS", "INFERENCE_NUM_THREADS", "INFERENCE_PRECISION_HINT",
             "OPTIMAL_NUMBER_OF_INFER_REQUESTS", "ENABLE_CPU_PINNING", "EXECUTION_DEVICES")


@dataclass
class OpenVinoOptions:
    """OpenVINO settings, all recorded with the run.

    device: CPU, GPU, NPU, AUTO ...
    hint: PERFORMANCE_HINT: LATENCY, THROUGHPUT, CUMULATIVE_THROUGHPUT or NONE.
    streams: NUM_STREAMS (None: chosen by the hint).
    threads: INFERENCE_NUM_THREADS (None: chosen by the hint).
    pinning: ENABLE_CPU_PINNING (None: the plugin's default).
    """

    device: str = "CPU"
    hint: str = "LATENCY"
    streams: int | None = None
    threads: int | None = None
    pinning: bool | None = None

    def validate(self, source: str) -> None:
        """Reject values OpenVINO would misread, naming the option."""
        self.hint = self.hint.upper()
        if self.hint not in _HINTS:
            raise UserError(f"{source}: hint must be one of {', '.join(_HINTS)}, got {self.hint!r}")
        for key in ("streams", "threads"):
            value = getattr(self, key)
            if value is not None and value < 1:
                raise UserError(f"{source}: {key} must be >= 1, got {value}")

    def config(self) -> dict[str, Any]:
        """The compile_model properties these options stand for."""
        cfg: dict[str, Any] = {}
        if self.hint != "NONE":
            cfg["PERFORMANCE_HINT"] = self.hint
        if self.streams is not None:
            cfg["NUM_STREAMS"] = str(self.streams)
        if self.threads is not None:
            cfg["INFERENCE_NUM_THREADS"] = self.threads
        if self.pinning is not None:
            cfg["ENABLE_CPU_PINNING"] = self.pinning
        return cfg


class OvSession(Session):
    """A compiled model. Each input set gets its own infer request with its tensors already
    set, so the timed call is `infer()` alone, as in benchmark_app."""

    def __init__(self, compiled: Any, options: OpenVinoOptions, inputs: list[TensorInfo]):
        self._compiled = compiled
        self._options = options
        self.inputs = inputs
        self.outputs = [port_info(o) for o in compiled.outputs]

    def prepare(self, feeds: dict[str, np.ndarray]) -> Any:
        import openvino as ov

        request = self._compiled.create_infer_request()
        for name, arr in feeds.items():
            try:
                request.set_tensor(name, ov.Tensor(np.require(arr, requirements="C")))
            except RuntimeError as e:
                raise ModelError(f"openvino: input '{name}': {short_message(e)}") from e
        return request

    def infer(self, prepared: Any) -> Any:
        _raw_infer(prepared, {}, True, False)
        return prepared

    def to_numpy(self, outputs: Any) -> list[np.ndarray]:
        return [outputs.get_output_tensor(i).data.copy() for i in range(len(self.outputs))]

    def optimal_requests(self) -> int:
        return int(self._compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))

    def request_pool(self, requests: int) -> RequestPool:
        """An `AsyncInferQueue` of `requests` infer requests, as benchmark_app's async mode."""
        from agents.engines.openvino.pool import OvRequestPool
        return OvRequestPool(self._compiled, requests, len(self.inputs))

    def resolved_config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {"device": self._options.device}
        for key in _REPORTED:
            try:
                cfg[key.lower()] = _plain(self._compiled.get_property(key))
            except RuntimeError:
                cfg[key.lower()] = None  # not a property of this device's plugin
        return cfg

    def close(self) -> None:
        self._compiled = None


class OpenVinoEngine(Engine):
    """OpenVINO Runtime on any of its devices."""

    name = "openvino"
    precisions = ("fp32", "fp16", "int8")
    Options = OpenVinoOptions
    formats = (".onnx", ".xml", ".tflite")

    def version(self) -> str:
        return _ov().get_version()

    def scenario_options(self, scenario: str) -> dict[str, Any]:
        # Several requests in flight only pay off with several streams: the THROUGHPUT hint
        # picks them (and OPTIMAL_NUMBER_OF_INFER_REQUESTS), as benchmark_app's async default.
        return {"hint": "THROUGHPUT"} if scenario in ("offline", "server") else {}

    def compile(self, model_path: Path, precision: str, options: Any, workdir: Path,
                calibration: Any = None) -> Artifact:
        if precision not in self.precisions:
            raise UnsupportedVariant(f"openvino: no {precision}; it does {', '.join(self.precisions)}")
        if precision == "fp32":
            return Artifact(path=str(model_path), precision=precision,
                            size_bytes=os.path.getsize(model_path))
        if precision == "fp16":
            _check_fp16(_ov().Core(), options.device)
        from agents.engines.openvino import convert as ov_convert

        try:
            out, notes = ov_convert.convert(model_path, precision, workdir, calibration)
        except PASS_THROUGH:
            raise
        except Exception as e:  # NNCF's or OpenVINO's own message is what the user needs
            raise ModelError(f"openvino {precision} conversion failed: {short_message(e)}") from e
        size = sum(f.stat().st_size for f in (out, out.with_suffix(".bin")) if f.exists())
        return Artifact(path=str(out), precision=precision, size_bytes=size, tool_versions=notes)

    def load(self, artifact: Artifact, options: OpenVinoOptions,
             shapes: dict[str, list[int]]) -> Session:
        ov = _ov()
        core = ov.Core()
        if options.device.split(":")[0].split(".")[0] not in ("AUTO", "MULTI", "HETERO") and \
                options.device.split(".")[0] not in core.available_devices:
            raise EngineUnavailable(self.name, f"device {options.device} not found; available: "
                                    f"{', '.join(core.available_devices)}")
        try:
            model = core.read_model(artifact.path)
            infos = [port_info(i) for i in model.inputs]
            resolved = resolve_shapes(infos, shapes)
            if any(i.dynamic_dims for i in infos):
                model.reshape({i.get_any_name(): resolved[port_name(i)] for i in model.inputs})
            compiled = core.compile_model(model, options.device, _config(options, artifact))
        except UserError:
            raise
        except Exception as e:  # OpenVINO raises RuntimeError/OVError subclasses
            raise ModelError(f"openvino cannot compile the model: {short_message(e)}") from e
        concrete = [TensorInfo(i.name, i.dtype, tuple(resolved[i.name])) for i in infos]
        return OvSession(compiled, options, concrete)


def _config(options: OpenVinoOptions, artifact: Artifact) -> dict[str, Any]:
    cfg = options.config()
    # CPUs with bf16 units otherwise run an "fp32" model in bf16 by default: pin what the user
    # asked for so the precision column means what it says. int8 keeps f32 for the layers NNCF
    # left unquantized, so int8 against fp32 compares quantization alone.
    if options.device.startswith(("CPU", "GPU")):
        hint = {"fp32": "f32", "fp16": "f16", "int8": "f32"}[artifact.precision]
        cfg.setdefault("INFERENCE_PRECISION_HINT", hint)
    return cfg


def _check_fp16(core: Any, device: str) -> None:
    # Asked for f16 without fp16 units, the CPU plugin silently computes in bf16 instead.
    if not device.startswith("CPU"):
        return
    caps = core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    if "FP16" not in caps:
        raise UnsupportedVariant(f"openvino: this CPU cannot compute in fp16 (capabilities: "
                                 f"{', '.join(caps)}); OpenVINO would silently use bf16")


def _raw_infer(request: Any, inputs: dict, share_outputs: bool, decode_strings: bool) -> Any:
    # The public InferRequest.infer() wraps every call's outputs in a fresh OVDict (about
    # 1.5 us on this CPU); the binding underneath runs the same inference without it. Fall back
    # to the public call where a release moves or changes the binding.
    global _raw_infer
    try:
        from openvino._pyopenvino import InferRequest
        InferRequest.infer(request, inputs, share_outputs, decode_strings)
        _raw_infer = InferRequest.infer
    except (ImportError, AttributeError, TypeError):
        request.infer()
        _raw_infer = lambda req, *_: req.infer()  # noqa: E731


def _ov() -> Any:
    try:
        import openvino
    except ImportError as e:
        raise EngineUnavailable("openvino", f"cannot import openvino: {e}") from e
    return openvino


def _plain(value: Any) -> Any:
    if isinstance(value, (int, float, bool, str)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "get_type_name"):  # ov.Type, e.g. the inference precision
        return value.get_type_name()
    return str(value)
