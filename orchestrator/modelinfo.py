"""Check a model file before anything is queued: exists, parses, and its inputs' shapes resolve.

Uses the onnx package to read the graph without loading external weights, so a user's
mistake is one clear line before any job or database row exists.
"""

from __future__ import annotations

from pathlib import Path

from agents.engines.base import TensorInfo
from agents.errors import UserError

SUPPORTED_SUFFIXES = (".onnx",)


def read_inputs(path: Path) -> list[TensorInfo]:
    """The model's graph inputs (initializers excluded), with symbolic dims by name.

    Raises:
        UserError: missing file, unsupported format, or a file that is not a valid model.
    """
    if not path.exists():
        raise UserError(f"model file {path} not found")
    if not path.is_file():
        raise UserError(f"model path {path} is not a file")
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise UserError(f"{path}: unsupported model format '{path.suffix}'; "
                        f"supported: {', '.join(SUPPORTED_SUFFIXES)}")
    model = _load_onnx(path)
    initializers = {i.name for i in model.graph.initializer}
    return [_info(v) for v in model.graph.input if v.name not in initializers]


def _load_onnx(path: Path):
    import onnx
    from google.protobuf.message import DecodeError

    try:
        model = onnx.load(str(path), load_external_data=False)
    except (DecodeError, ValueError, OSError, RuntimeError) as e:
        raise UserError(f"{path} is not a valid ONNX model ({' '.join(str(e).split())[:200]})") from None
    # An empty or truncated file can parse as a protobuf with no graph at all.
    if not model.graph.output or not (model.graph.node or model.graph.input):
        raise UserError(f"{path} is not a valid ONNX model (it has no graph)")
    if not model.opset_import:
        raise UserError(f"{path} is not a valid ONNX model (no opset import)")
    return model


def _info(value) -> TensorInfo:
    from onnx.helper import tensor_dtype_to_np_dtype

    tt = value.type.tensor_type
    if not value.type.HasField("tensor_type"):
        raise UserError(f"input '{value.name}' is not a tensor; benchlab feeds tensors only")
    dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tt.shape.dim]
    try:
        dtype = tensor_dtype_to_np_dtype(tt.elem_type).name
    except (KeyError, ValueError):
        dtype = f"onnx-type-{tt.elem_type}"
    return TensorInfo(value.name, dtype, tuple(dims))
