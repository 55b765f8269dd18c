"""ncnn engine: ONNX converted by pnnx, run through the `ncnn` package's Python bindings on the CPU.

Timed call: one `Extractor` from the loaded `Net` (as ncnn apps and benchncnn do per inference),
`input` of each prepared Mat, `extract` of every output. Inputs become ncnn Mats in `prepare`
(batch dim dropped, int64 indices as int32), outside the timed region.

Precision is decided by the Net's options, which default to fp16 storage and arithmetic where
the CPU has them (ARM); benchlab pins them: fp32 turns every fp16/bf16 option off, so fp32
means fp32 on every board; fp16 runs weights stored in fp16 (pnnx) with fp16 storage, packing
and arithmetic on, which ncnn applies where the CPU supports it (fp16 arithmetic: ARMv8.2;
x86 keeps fp16 storage only). int8 needs ncnn's own quantization tools (ncnn2table, ncnn2int8),
which no package installs: the variant is skipped with that reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agents.engines import onnx_graph
from agents.engines.base import Artifact, Engine, Session, TensorInfo, short_message
from agents.engines.ncnn import convert as ncnn_convert
from agents.errors import PASS_THROUGH, EngineUnavailable, ModelError, UnsupportedVariant, UserError

INT8_REASON = ("ncnn: no int8 here: quantizing for ncnn needs its ncnn2table and ncnn2int8 tools, "
               "which no PyPI or Debian package ships (pnnx converts to fp32 and fp16 only)")


@dataclass
class NcnnOptions:
    """ncnn settings, all recorded with the run.

    threads: `Option.num_threads` (None: ncnn's default, the physical big cores).
    lightmode: release intermediate blobs during inference (ncnn's default: on).
    input_shapes: the shapes baked into the converted model, `name:1x3x224x224,...` (filled
        from --shape; part of the cache key).
    """

    threads: int | None = None
    lightmode: bool = True
    input_shapes: str | None = None

    def validate(self, source: str) -> None:
        """Reject values ncnn would misread, naming the option."""
        if self.threads is not None and self.threads < 1:
            raise UserError(f"{source}: threads must be >= 1, got {self.threads}")
        onnx_graph.validate_shapes(self.input_shapes, source)


class NcnnSession(Session):
    """A loaded `ncnn.Net`; each prepared input set is a list of (blob name, Mat)."""

    def __init__(self, net: Any, options: NcnnOptions, precision: str, layout: dict[str, Any]):
        self._net, self._options, self._precision = net, options, precision
        self._in, self._out = layout["inputs"], layout["outputs"]
        self.inputs = [TensorInfo(e["source"], e["dtype"], tuple(e["shape"])) for e in self._in]
        self.outputs = [TensorInfo(e["source"], e["dtype"], tuple(e["shape"])) for e in self._out]
        self.layout_note = ("ncnn has no batch axis: dim 0 (1) of every input and output is "
                            "dropped for ncnn and restored for the comparison")

    def prepare(self, feeds: dict[str, np.ndarray]) -> list[tuple[str, Any]]:
        import ncnn

        prepared = []
        for e in self._in:
            arr = np.ascontiguousarray(feeds[e["source"]][0],
                                       dtype=ncnn_convert.FEED_DTYPES[e["dtype"]])
            # A Mat that owns its memory: ncnn's reference count then makes an in-place first
            # layer copy it instead of overwriting the input set that later calls reuse.
            prepared.append((e["blob"], ncnn.Mat(arr).clone()))
        return prepared

    def infer(self, prepared: list[tuple[str, Any]]) -> list[Any]:
        ex = self._net.create_extractor()
        for blob, mat in prepared:
            ex.input(blob, mat)
        outputs = []
        for e in self._out:
            ret, mat = ex.extract(e["blob"])
            if ret != 0:
                raise ModelError(f"ncnn: extracting '{e['source']}' failed with code {ret}")
            outputs.append(mat)
        return outputs

    def to_numpy(self, outputs: list[Any]) -> list[np.ndarray]:
        arrays = []
        for e, mat in zip(self._out, outputs):
            arr = np.array(mat)
            # The batch dim pnnx dropped; ncnn also squeezes a Mat's size-1 dims, so the
            # comparison reshapes to the reference's shape by element order.
            arrays.append(arr.reshape((1,) + arr.shape) if e["rank"] == arr.ndim + 1 else arr)
        return arrays

    def optimal_requests(self) -> int:
        return 1

    def resolved_config(self) -> dict[str, Any]:
        import ncnn

        opt = self._net.opt
        return {"threads": opt.num_threads,
                "threads_source": "option" if self._options.threads else "ncnn-default",
                "lightmode": opt.lightmode,
                "use_fp16_storage": opt.use_fp16_storage, "use_fp16_packed": opt.use_fp16_packed,
                "use_fp16_arithmetic": opt.use_fp16_arithmetic,
                "use_bf16_storage": opt.use_bf16_storage,
                "cpu_fp16_arithmetic": bool(ncnn.cpu_support_arm_asimdhp()),
                "use_vulkan_compute": opt.use_vulkan_compute,
                "input_shapes": self._options.input_shapes}

    def close(self) -> None:
        self._net = None


class NcnnEngine(Engine):
    """Tencent ncnn on the CPU."""

    name = "ncnn"
    precisions = ("fp32", "fp16", "int8")
    Options = NcnnOptions
    formats = (".onnx",)
    compile_keys = ("input_shapes",)

    def version(self) -> str:
        return _ncnn().__version__

    def supports(self, suffix: str) -> str | None:
        if suffix == ".onnx":
            try:
                ncnn_convert.pnnx_binary()
            except UnsupportedVariant as e:
                return str(e)
        return super().supports(suffix)

    def target(self, options: Any) -> str:
        # A .param/.bin runs on any CPU: it depends on the converter, not the board.
        return "any-cpu;" + ";".join(f"{k}={v}" for k, v in sorted(ncnn_convert.versions().items()))

    def resolve_options(self, options: NcnnOptions, shapes: dict[str, list[int]]) -> NcnnOptions:
        return onnx_graph.with_shapes(options, shapes)

    def compile(self, model_path: Path, precision: str, options: Any, workdir: Path,
                calibration: Any = None) -> Artifact:
        if precision == "int8":
            raise UnsupportedVariant(INT8_REASON)
        if precision not in self.precisions:
            raise UnsupportedVariant(f"ncnn: no {precision}; it does fp32, fp16")
        inputs = onnx_graph.concrete_inputs(model_path, options.input_shapes)
        ncnn_convert.check_inputs(inputs)
        _, outputs = onnx_graph.graph_io(model_path)
        try:
            param, notes = ncnn_convert.convert(model_path, precision, inputs, outputs, workdir)
        except PASS_THROUGH:
            raise
        except Exception as e:  # an OS error starting pnnx, an unreadable output
            raise ModelError(f"ncnn {precision} conversion failed: {short_message(e)}") from e
        size = sum(p.stat().st_size for p in (param, param.with_suffix(".bin")) if p.exists())
        return Artifact(path=str(param), precision=precision, size_bytes=size, tool_versions=notes)

    def load(self, artifact: Artifact, options: NcnnOptions,
             shapes: dict[str, list[int]]) -> Session:
        ncnn = _ncnn()
        param = Path(artifact.path)
        net = ncnn.Net()
        _set_options(net.opt, options, artifact.precision)
        if net.load_param(str(param)) != 0 or net.load_model(str(param.with_suffix(".bin"))) != 0:
            raise ModelError(f"ncnn cannot load {param.name} / {param.with_suffix('.bin').name}")
        return NcnnSession(net, options, artifact.precision, ncnn_convert.read_layout(param))


def _set_options(opt: Any, options: NcnnOptions, precision: str) -> None:
    fp16 = precision == "fp16"
    # ncnn turns fp16 on by default where the CPU has it: pin what the variant says.
    opt.use_fp16_storage = opt.use_fp16_packed = opt.use_fp16_arithmetic = fp16
    opt.use_bf16_storage = False
    opt.use_vulkan_compute = False
    opt.lightmode = options.lightmode
    if options.threads:
        opt.num_threads = options.threads


def _ncnn() -> Any:
    try:
        import ncnn
    except ImportError as e:
        raise EngineUnavailable("ncnn", f"cannot import ncnn: {e}; pip install benchlab[ncnn]") from e
    return ncnn

