"""Check a model file before anything is queued: exists, parses, and its inputs' shapes resolve.

ONNX: the onnx package reads the graph without loading external weights. TFLite: the
flatbuffer is read with LiteRT's generated schema, without creating an interpreter. Either
way a user's mistake is one clear line before any job or database row exists.
"""

from __future__ import annotations

import struct
from pathlib import Path

from agents.engines.base import TensorInfo
from agents.errors import UserError

SUPPORTED_SUFFIXES = (".onnx", ".tflite")
# TensorType numbers of the TFLite schema -> numpy dtype names (the ones benchlab can feed).
_TFLITE_TYPES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 6: "bool",
                 7: "int16", 9: "int8", 10: "float64", 12: "uint64", 15: "uint32", 16: "uint16"}


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
    if path.suffix.lower() == ".tflite":
        return read_tflite_inputs(path)
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


def read_tflite_inputs(path: Path) -> list[TensorInfo]:
    """A .tflite model's inputs, named as the engine names them (see agents.engines.tflite).

    Dims that are -1 in the shape signature are dynamic (None). int8/uint8/int16 inputs with
    quantization parameters are float32: benchlab feeds them real values and quantizes.

    Raises:
        UserError: not a TFLite flatbuffer, or truncated/corrupt.
    """
    data = path.read_bytes()
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise UserError(f"{path} is not a valid TFLite model (no TFL3 file identifier)")
    try:
        from ai_edge_litert import schema_py_generated as schema
    except ImportError:
        raise UserError(f"{path}: reading .tflite files needs ai-edge-litert here; "
                        "pip install benchlab[tflite]") from None
    try:
        # Unpacking every table reads every offset, so a truncated or corrupt file fails here
        # (the flatbuffers runtime has no verifier); about 3 ms for a 1 MB model.
        model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(data, 0))
        _check_model(model, len(data))
    except (IndexError, ValueError, TypeError, AttributeError, UnicodeDecodeError, struct.error):
        raise UserError(f"{path} is not a valid TFLite model (truncated or corrupt)") from None
    graph, names = model.subgraphs[0], _signature_names(model)
    return [_tflite_info(graph.tensors[i], names.get(i)) for i in graph.inputs]


def _check_model(model, size: int) -> None:
    if not model.subgraphs or model.subgraphs[0].tensors is None:
        raise ValueError("no subgraph")
    for buf in model.buffers or []:
        if buf.offset > 1 and buf.offset + buf.size > size:  # weights stored after the flatbuffer
            raise ValueError("a buffer runs past the end of the file")


def _signature_names(model) -> dict[int, str]:
    """Tensor index -> name in the model's only SignatureDef (the converter's input names)."""
    if len(model.signatureDefs or []) != 1:
        return {}
    return {m.tensorIndex: m.name.decode() for m in model.signatureDefs[0].inputs or []}


def _tflite_info(tensor, signature_name: str | None) -> TensorInfo:
    dims = tensor.shapeSignature if tensor.shapeSignature is not None else tensor.shape
    dtype = _TFLITE_TYPES.get(tensor.type, f"tflite-type-{tensor.type}")
    q = tensor.quantization
    if dtype in ("int8", "uint8", "int16") and q is not None and q.scale is not None and len(q.scale):
        dtype = "float32"
    shape = tuple(int(d) if d >= 0 else None for d in (dims if dims is not None else []))
    return TensorInfo(signature_name or tensor.name.decode(), dtype, shape)
