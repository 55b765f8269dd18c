"""int8 for TensorRT: explicit Q/DQ quantization first, the implicit calibrator as a fallback.

Explicit quantization (QuantizeLinear/DequantizeLinear nodes in the ONNX graph, built as a
strongly typed network) is TensorRT's way from 10.1 on; the IInt8EntropyCalibrator2 path was
deprecated in 10.1 and removed in TensorRT 11. Routes, recorded in the artifact's tool_versions:

- `qdq-model`: the model already carries Q/DQ nodes (a QAT export, onnxruntime's int8 QDQ
  artifact ...): TensorRT uses its scales; the calibration data is not used.
- `calibrator`: TensorRT's entropy calibrator on the calibration sets (TensorRT 10 only).
- `qdq-onnxruntime`: onnxruntime's quantize_static inserts symmetric int8 Q/DQ nodes, since
  TensorRT accepts only zero points of 0, calibrated on the calibration sets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from agents import requirements
from agents.engines.tensorrt import cuda as trt_cuda
from agents.errors import UnsupportedVariant

_QDQ_OPS = {"QuantizeLinear", "DequantizeLinear"}


def has_qdq(model: Path) -> bool:
    """True when the ONNX graph (top level) holds QuantizeLinear or DequantizeLinear nodes."""
    requirements.require("tensorrt", "int8", only=(requirements.ONNX,))
    import onnx

    graph = onnx.load(str(model), load_external_data=False).graph
    return any(node.op_type in _QDQ_OPS for node in graph.node)


def choose_route(model: Path, quantization: str, has_calibrator: bool, trt_version: str) -> str:
    """Which int8 route a build takes (see the module docstring).

    Args:
        model: the source ONNX model.
        quantization: the `quantization` option: auto, qdq or calibrator.
        has_calibrator: whether this TensorRT still has IInt8EntropyCalibrator2.
        trt_version: for the message.
    Returns:
        qdq-model, calibrator or qdq-onnxruntime.
    Raises:
        UnsupportedVariant: `calibrator` asked of a TensorRT without implicit quantization.
    """
    if quantization != "calibrator" and has_qdq(model):
        return "qdq-model"
    if quantization == "calibrator" and not has_calibrator:
        raise UnsupportedVariant(f"tensorrt {trt_version} has no int8 calibrator (removed in "
                                 "TensorRT 11); use -o tensorrt.quantization=qdq")
    if quantization == "calibrator" or (quantization == "auto" and has_calibrator):
        return "calibrator"
    return "qdq-onnxruntime"


def quantize_qdq(src: Path, dst: Path, calibration: Any, workdir: Path) -> str:
    """Insert symmetric int8 Q/DQ nodes with onnxruntime's static quantizer.

    Returns:
        A note for tool_versions.
    Raises:
        UnsupportedVariant: onnxruntime, onnx or sympy is not installed here.
    """
    # Skipped, naming them, where onnxruntime's quantizer or what it imports is missing.
    requirements.require("tensorrt", "int8", only=(requirements.ONNXRUNTIME, requirements.ONNX,
                                                    requirements.SYMPY))
    import onnxruntime as ort
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process
    from agents.engines.onnxruntime.types import ort_infos

    sess = ort.InferenceSession(str(src), providers=["CPUExecutionProvider"])
    infos = ort_infos(sess.get_inputs())
    sets = iter(calibration.sets(infos))
    del sess

    class Reader(CalibrationDataReader):
        def get_next(self):
            return next(sets, None)

    pre = workdir / "preprocessed.onnx"
    quant_pre_process(str(src), str(pre))
    quantize_static(str(pre), str(dst), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                    extra_options={"ActivationSymmetric": True, "WeightSymmetric": True})
    pre.unlink(missing_ok=True)
    return f"onnxruntime {ort.__version__} quantize_static (symmetric int8, per-channel weights)"


def make_calibrator(trt: Any, sets: list[dict[str, np.ndarray]]) -> Any:
    """A TensorRT entropy calibrator feeding `sets` (concrete shapes) from device buffers.

    The returned object has `close()` to free its buffers once the build is done.
    """

    class Calibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)
            self._sets = iter(sets)
            self._memory = trt_cuda.Memory()
            self._stream = trt_cuda.Stream()
            self._buffers: dict[str, int] = {}

        def get_batch_size(self) -> int:
            return 1  # explicit-batch networks: the sets already hold the batch dim

        def get_batch(self, names: list[str]) -> list[int] | None:
            feed = next(self._sets, None)
            if feed is None:
                return None
            for name in names:
                arr = np.ascontiguousarray(feed[name])
                if name not in self._buffers:
                    self._buffers[name] = self._memory.device(arr.nbytes)
                trt_cuda.copy_to_device(self._buffers[name], arr, self._stream.handle)
            self._stream.sync()
            return [self._buffers[name] for name in names]

        def read_calibration_cache(self) -> None:
            return None  # the artifact cache already keys on the calibration data

        def write_calibration_cache(self, cache: Any) -> None:
            return None

        def close(self) -> None:
            self._memory.free()
            self._stream.close()

    return Calibrator()
