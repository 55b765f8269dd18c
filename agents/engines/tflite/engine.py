"""TFLite (LiteRT) engine: runs `.tflite` files with LiteRT's `Interpreter`, converts ONNX via onnx2tf.

The runtime is ai-edge-litert (wheels for CPython 3.9-3.13 on x86_64 and aarch64 Linux,
macOS); tflite-runtime (last release 2.14, CPython <= 3.11) is the fallback on boards that
only have it. Which one ran is recorded with every run.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agents.engines.base import Artifact, Engine, Session, TensorInfo, short_message
from agents.engines.tflite.convert import Layout, convert, converter_missing, converter_versions
from agents.errors import EngineUnavailable, ModelError, UnsupportedVariant, UserError
from agents.inputs import resolve_shapes

_QUANTIZED = ("int8", "uint8", "int16")


@dataclass
class TfliteOptions:
    """LiteRT Interpreter settings, all recorded with the run.

    threads: num_threads of the Interpreter (None: LiteRT's Python default, 1).
    xnnpack: apply the default XNNPACK delegate (false: the builtin op resolver without
        default delegates, i.e. LiteRT's own kernels).
    """

    threads: int | None = None
    xnnpack: bool = True

    def validate(self, source: str) -> None:
        """Reject values LiteRT would refuse, naming the option."""
        if self.threads is not None and self.threads < 1:
            raise UserError(f"{source}: threads must be >= 1, got {self.threads}")


@dataclass(frozen=True)
class _Port:
    """One model input or output as the Interpreter sees it."""

    index: int
    name: str
    dtype: np.dtype
    signature: tuple[int, ...]
    scale: float
    zero_point: int

    @property
    def quantized(self) -> bool:
        return self.scale > 0 and self.dtype.name in _QUANTIZED

    def info(self, shape: tuple) -> TensorInfo:
        # Quantized tensors are fed and read as real values (float32): the same input sets
        # and the same reference outputs serve the float and the int8 variants.
        return TensorInfo(self.name, "float32" if self.quantized else self.dtype.name, shape)


class TfliteSession(Session):
    """One Interpreter with every input resized and its tensors allocated.

    Timed call: `set_tensor` of each input + `invoke()`. The Interpreter owns its input
    buffers and the Python API cannot bind outside memory, so rotating distinct input sets
    means one copy into the input buffer per call, as in any app on this API. Measured on the
    zoo CNNs (1 thread): the copy costs 0.4-10 us (inputs of 12-600 KB), under 1 % of any
    model that takes 0.3 ms or more. The alternative, one Interpreter per input set with its
    input set once, times `invoke()` alone but ran up to 48 % slower (224x224 fp32: 2.13 vs
    1.44 ms): 8 arenas and 8 copies of XNNPACK's packed weights evict each other from the
    cache, which no single-model deployment suffers. Quantizing inputs and dequantizing
    outputs happens outside the timed region (`prepare`, `to_numpy`).
    """

    def __init__(self, interp: Any, runtime: tuple[str, str], options: TfliteOptions,
                 ports: tuple[list[_Port], list[_Port]], shapes: dict[str, list[int]],
                 layout: Layout | None, make_interpreter: Any = None):
        self._interp, self._runtime, self._options, self._layout = interp, runtime, options, layout
        self._make_interpreter = make_interpreter
        self._in, self._out = ports
        self.inputs = [p.info(tuple(shapes[p.name])) for p in self._in]
        details = {d["index"]: d for d in interp.get_output_details()}
        self.outputs = [p.info(tuple(int(v) for v in details[p.index]["shape"])) for p in self._out]
        self.layout_note = layout.note() if layout else None

    def prepare(self, feeds: dict[str, np.ndarray]) -> list[tuple[int, np.ndarray]]:
        prepared = []
        for port in self._in:
            value = feeds[port.name]
            if port.quantized:
                info = np.iinfo(port.dtype)
                q = np.round(np.asarray(value, np.float32) / port.scale) + port.zero_point
                value = np.clip(q, info.min, info.max).astype(port.dtype)
            prepared.append((port.index, np.require(value, dtype=port.dtype, requirements="C")))
        return prepared

    def infer(self, prepared: list[tuple[int, np.ndarray]]) -> Any:
        return _invoke(self._interp, prepared)

    def request_pool(self, requests: int) -> Any:
        """One interpreter per request, each on its own thread (one interpreter is not
        thread-safe; LiteRT's invoke releases the GIL, so they run side by side)."""
        from agents.engines.pool import ThreadRequestPool

        interps = [self._interp] + [self._make_interpreter() for _ in range(requests - 1)]
        pool = ThreadRequestPool([functools.partial(_invoke, i) for i in interps], requests)
        pool.mechanism = f"{requests} interpreters on {requests} threads"
        return pool

    def to_numpy(self, outputs: Any) -> list[np.ndarray]:
        arrays = []
        for port in self._out:
            value = self._interp.get_tensor(port.index)
            if port.quantized:
                value = (value.astype(np.float32) - port.zero_point) * np.float32(port.scale)
            arrays.append(value)
        return arrays

    def optimal_requests(self) -> int:
        from agents.probe import physical_cores
        return max(1, physical_cores() // (self._options.threads or 1))

    def resolved_config(self) -> dict[str, Any]:
        opts, (package, version) = self._options, self._runtime
        return {"package": package, "package_version": version,
                # ai-edge-litert's Python API passes `num_threads or 1` to LiteRT.
                "threads": opts.threads or (1 if package == "ai-edge-litert" else None),
                "threads_source": "option" if opts.threads else "litert-default",
                "xnnpack": opts.xnnpack,
                "op_resolver": "BUILTIN" if opts.xnnpack else "BUILTIN_WITHOUT_DEFAULT_DELEGATES",
                "delegate_partitions": _delegate_partitions(self._interp),
                "input_quantization": {p.name: {"dtype": p.dtype.name, "scale": p.scale,
                                                "zero_point": p.zero_point}
                                       for p in self._in if p.quantized},
                "converted_from": self._layout.source if self._layout else None}

    def close(self) -> None:
        self._interp = None

    def adapt_inputs(self, reference_feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self._layout.to_tflite(reference_feeds) if self._layout else reference_feeds

    def adapt_outputs(self, outputs: list[np.ndarray]) -> list[np.ndarray]:
        return self._layout.to_reference(outputs) if self._layout else outputs


class TfliteEngine(Engine):
    """LiteRT's Interpreter on the CPU, with or without the XNNPACK delegate."""

    name = "tflite"
    precisions = ("fp32", "fp16", "int8")
    Options = TfliteOptions
    formats = (".tflite", ".onnx")

    def supports(self, suffix: str) -> str | None:
        if suffix == ".onnx":
            why = converter_missing()
            if why:
                return why
        return super().supports(suffix)

    def version(self) -> str:
        return _runtime()[2]

    def target(self, options: Any) -> str:
        # A .tflite runs on any CPU: a converted artifact depends on the converter, not the
        # board, so the converter's versions stand where other engines put the CPU or GPU.
        return "any-cpu;" + ";".join(f"{k}={v}" for k, v in sorted(converter_versions().items()))

    def compile(self, model_path: Path, precision: str, options: Any, workdir: Path,
                calibration: Any = None) -> Artifact:
        suffix = model_path.suffix.lower()
        if suffix == ".onnx":
            sets = None
            if calibration is not None and precision == "int8":  # the runner's Calibration
                from agents.engines.onnx_graph import graph_io
                sets = calibration.sets(graph_io(model_path)[0])
            return convert(model_path, precision, workdir, sets)
        if suffix != ".tflite":
            raise UnsupportedVariant(f"tflite cannot run {suffix} files; formats: "
                                     f"{', '.join(self.formats)}")
        found, detail = model_precision(model_path)
        if found != precision:
            raise UnsupportedVariant(
                f"tflite: {model_path.name} is {found} ({detail}); a .tflite file runs at the "
                f"precision it was converted to, so {precision} needs a .tflite converted to "
                f"{precision}, or the source ONNX model")
        return Artifact(path=str(model_path), precision=precision,
                        size_bytes=os.path.getsize(model_path),
                        tool_versions={_runtime()[0]: _runtime()[2]})

    def load(self, artifact: Artifact, options: TfliteOptions,
             shapes: dict[str, list[int]]) -> Session:
        package, module, version = _runtime()
        layout = Layout.read(Path(artifact.path))

        def make() -> Any:
            interp = _interpreter(module, artifact.path, options)
            ports = _ports(interp, interp.get_input_details(), "inputs", layout)
            _allocate(interp, ports, resolved)
            return interp

        interp = _interpreter(module, artifact.path, options)
        ports = _ports(interp, interp.get_input_details(), "inputs", layout)
        infos = [p.info(tuple(d if d >= 0 else None for d in p.signature)) for p in ports]
        resolved = resolve_shapes(infos, layout.tflite_shapes(shapes) if layout else shapes)
        _allocate(interp, ports, resolved)
        outputs = _ports(interp, interp.get_output_details(), "outputs", layout)
        return TfliteSession(interp, (package, version), options, (ports, outputs), resolved,
                             layout, make)


def _allocate(interp: Any, ports: list[_Port], resolved: dict[str, list[int]]) -> None:
    try:
        for port in ports:
            if any(d < 0 for d in port.signature):
                interp.resize_tensor_input(port.index, resolved[port.name], strict=True)
        interp.allocate_tensors()
    except (ValueError, RuntimeError) as e:
        raise ModelError(f"tflite cannot allocate the model's tensors for shapes "
                         f"{resolved}: {short_message(e)}") from e


def _invoke(interp: Any, prepared: list[tuple[int, np.ndarray]]) -> Any:
    for index, value in prepared:
        interp.set_tensor(index, value)
    interp.invoke()
    return interp  # the outputs live in its buffers until the next call


def model_precision(path: Path) -> tuple[str, str]:
    """What precision a .tflite file is, from its tensors' types.

    Returns:
        (fp32 | fp16 | int8, a short description).
    Raises:
        ModelError: the file is not a model LiteRT can read.
    """
    _, module, _ = _runtime()
    interp = _interpreter(module, str(path), TfliteOptions(xnnpack=False))
    tensors = interp.get_tensor_details()
    quantized = [t for t in tensors if np.dtype(t["dtype"]).name in _QUANTIZED
                 and len(t["quantization_parameters"]["scales"])]
    if quantized:
        inputs = {d["index"] for d in interp.get_input_details()}
        io = "integer inputs" if any(t["index"] in inputs for t in quantized) else "float inputs"
        kinds = sorted({np.dtype(t["dtype"]).name for t in quantized})
        return "int8", f"{'/'.join(kinds)}-quantized tensors, {io}"
    if any(np.dtype(t["dtype"]) == np.float16 for t in tensors):
        return "fp16", "float16 weights"
    return "fp32", "float32 weights"


def _ports(interp: Any, details: list[dict], kind: str, layout: Layout | None) -> list[_Port]:
    names = _signature_names(interp, kind)
    ports = []
    for position, d in enumerate(details):
        name = layout.name(kind, position) if layout else names.get(d["index"], d["name"])
        scale, zero_point = d["quantization"]
        signature = d.get("shape_signature", d["shape"])
        ports.append(_Port(d["index"], name, np.dtype(d["dtype"]),
                           tuple(int(v) for v in signature), float(scale), int(zero_point)))
    return ports


def _signature_names(interp: Any, kind: str) -> dict[int, str]:
    """Tensor index -> the name a single SignatureDef gives it (the converter's input names)."""
    try:
        signatures = interp._get_full_signature_list()  # the public variant drops the indices
    except AttributeError:
        return {}
    if len(signatures) != 1:
        return {}
    return {index: name for name, index in next(iter(signatures.values()))[kind].items()}


def _delegate_partitions(interp: Any) -> int | None:
    """How many parts of the graph a delegate (XNNPACK) took over; None if unknown."""
    try:
        return sum(1 for op in interp._get_ops_details() if op["op_name"] == "DELEGATE")
    except (AttributeError, KeyError, ValueError):
        return None


def _interpreter(module: Any, path: str, options: TfliteOptions) -> Any:
    resolver = (module.OpResolverType.AUTO if options.xnnpack
                else module.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    try:
        return module.Interpreter(model_path=path, num_threads=options.threads,
                                  experimental_op_resolver_type=resolver)
    except (ValueError, RuntimeError) as e:
        raise ModelError(f"tflite cannot load {Path(path).name}: {short_message(e)}") from e


def _runtime() -> tuple[str, Any, str]:
    """(package name, its interpreter module, version): ai-edge-litert, else tflite-runtime."""
    try:
        import ai_edge_litert
        from ai_edge_litert import interpreter
        return "ai-edge-litert", interpreter, ai_edge_litert.__version__
    except ImportError as e:
        first = e
    try:
        import tflite_runtime
        from tflite_runtime import interpreter
        return "tflite-runtime", interpreter, tflite_runtime.__version__
    except ImportError:
        raise EngineUnavailable("tflite", f"cannot import ai_edge_litert ({first}) nor "
                                "tflite_runtime; pip install benchlab[tflite]") from first
