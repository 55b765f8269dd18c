"""ONNX Runtime's tensor facts as benchlab's: type strings to numpy names, dims, TensorInfo.

Shared by the engine, its converters, the accuracy reference and TensorRT's int8 calibration
(all of which run an onnxruntime session); imports no SDK.
"""

from __future__ import annotations

from typing import Any, Iterable, List

from agents.engines.base import TensorInfo
from agents.errors import ModelError

_ORT_TYPES = {
    "tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64",
    "tensor(int64)": "int64", "tensor(int32)": "int32", "tensor(int16)": "int16",
    "tensor(int8)": "int8", "tensor(uint8)": "uint8", "tensor(uint16)": "uint16",
    "tensor(uint32)": "uint32", "tensor(uint64)": "uint64", "tensor(bool)": "bool",
}


def ort_dtype(ort_type: str) -> str:
    """The numpy dtype name of an ONNX Runtime type string ("tensor(float)" -> "float32").

    Raises:
        ModelError: a type benchlab does not feed.
    """
    if ort_type not in _ORT_TYPES:
        raise ModelError(f"onnxruntime: tensor type {ort_type} is not supported by benchlab")
    return _ORT_TYPES[ort_type]


def ort_dims(shape: Any) -> list[int | str | None]:
    """A NodeArg's shape as TensorInfo dims: ints, symbolic names, None for unknown."""
    if shape is None:
        return []
    return [d if isinstance(d, (int, str)) else None for d in shape]


def ort_infos(args: Iterable[Any]) -> List[TensorInfo]:
    """TensorInfo of each NodeArg (`session.get_inputs()`), in order."""
    return [TensorInfo(a.name, ort_dtype(a.type), tuple(ort_dims(a.shape))) for a in args]
