"""ONNX Runtime's own converters: fp16 graph conversion and int8 quantization (static QDQ or
dynamic). They need the onnx package on the board, imported here only when a variant asks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from agents import requirements
from agents.errors import UnsupportedVariant


def versions() -> dict[str, str]:
    """Versions of the tools that made the artifact."""
    import onnx
    import onnxruntime
    return {"onnxruntime": onnxruntime.__version__, "onnx": onnx.__version__}


def _onnx(engine: str, precision: str):
    # A board without onnx cannot make this variant: skipped, naming the package (not a fault
    # of the device, which must not be quarantined for it).
    requirements.require(engine, precision, only=(requirements.ONNX,))
    import onnx
    return onnx


def to_fp16(src: Path, dst: Path, engine: str = "onnxruntime") -> dict[str, str]:
    """Convert weights and compute to fp16; inputs and outputs keep their types, so the
    user's data and the accuracy check see the same interface as the fp32 model.

    Raises:
        UnsupportedVariant: onnx is not installed here (named in the reason for `engine`).
    """
    onnx = _onnx(engine, "fp16")
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(src)), keep_io_types=True)
    onnx.save(model, str(dst))
    return {"conversion": "float16 (keep_io_types)"}


def to_int8(src: Path, dst: Path, options: Any, calibration: Any, workdir: Path) -> dict[str, str]:
    """Quantize to int8, statically with calibration data (QDQ) or dynamically.

    Raises:
        UnsupportedVariant: onnx (or, for static quantization, sympy) is not installed here.
    """
    onnx = _onnx("onnxruntime", "int8")
    from onnxruntime.quantization import QuantType, quantize_dynamic

    mode = options.quantization
    graph = onnx.load(str(src), load_external_data=False).graph
    half = [i.name for i in graph.input if i.type.tensor_type.elem_type == onnx.TensorProto.FLOAT16]
    if half or any(t.data_type == onnx.TensorProto.FLOAT16 for t in graph.initializer):
        # ORT's quantizer inserts float32 (Dynamic)QuantizeLinear nodes: on a float16 graph the
        # result does not load ("Type 'tensor(float16)' ... is invalid").
        raise UnsupportedVariant("onnxruntime int8: the model is already float16 "
                                 f"({'inputs ' + ', '.join(half) if half else 'weights'}); "
                                 "onnxruntime's quantizer takes float32 models: quantize the fp32 export")
    if mode == "auto":
        ops = {n.op_type for n in graph.node}
        mode = "static" if ops & {"Conv", "ConvTranspose"} else "dynamic"
    if mode == "dynamic":
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8)
        return {"quantization": "dynamic int8 (weights QInt8)"}
    _static(src, dst, options, calibration, workdir)
    how = "generated data" if calibration is None or calibration.generated else "user data"
    return {"quantization": f"static int8 QDQ, per_channel={options.per_channel}, calibrated on {how}"}


def _static(src: Path, dst: Path, options: Any, calibration: Any, workdir: Path) -> None:
    # quant_pre_process runs onnxruntime's symbolic shape inference, which imports sympy.
    requirements.require("onnxruntime", "int8", only=(requirements.SYMPY,))
    import onnxruntime as ort
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from agents.engines.onnxruntime.types import ort_infos

    sess = ort.InferenceSession(str(src), providers=["CPUExecutionProvider"])
    infos = ort_infos(sess.get_inputs())
    sets = calibration.sets(infos)
    del sess

    class Reader(CalibrationDataReader):
        def __init__(self, feeds: list[dict[str, np.ndarray]]):
            self._it = iter(feeds)

        def get_next(self):
            return next(self._it, None)

    pre = workdir / "preprocessed.onnx"
    quant_pre_process(str(src), str(pre))
    quantize_static(str(pre), str(dst), Reader(sets), quant_format=QuantFormat.QDQ,
                    per_channel=options.per_channel, activation_type=QuantType.QInt8,
                    weight_type=QuantType.QInt8)
    pre.unlink(missing_ok=True)
