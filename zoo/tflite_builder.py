"""Write real `.tflite` flatbuffers without TensorFlow, with LiteRT's generated schema classes.

`FlatModel` collects tensors, constant buffers and operators the way the TFLite converter lays
them out (buffer 0 empty, one signature `serving_default`), and `quantize_*` compute the int8
parameters of the TFLite quantization spec: activations asymmetric per tensor, weights
symmetric (per channel for convolutions), biases int32 at input_scale * weight_scale.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

SIGNATURE = "serving_default"
_TYPES = {"float32": "FLOAT32", "float16": "FLOAT16", "int32": "INT32", "uint8": "UINT8",
          "int64": "INT64", "int8": "INT8", "bool": "BOOL"}


def schema() -> Any:
    """LiteRT's flatbuffer schema module (imported lazily: it pulls in ai-edge-litert)."""
    from ai_edge_litert import schema_py_generated
    return schema_py_generated


class FlatModel:
    """A single-subgraph TFLite model under construction."""

    def __init__(self) -> None:
        self.s = schema()
        self.tensors: list[Any] = []
        self.buffers: list[Any] = [self.s.BufferT()]  # buffer 0: "no data", by convention
        self.opcodes: dict[int, int] = {}
        self.operators: list[Any] = []

    def tensor(self, name: str, shape: Sequence[int], dtype: str, quant: Any = None,
               signature: Sequence[int] | None = None, data: np.ndarray | None = None) -> int:
        """Add a tensor (a constant when `data` is given); -1 dims go in `signature` only.

        Returns:
            The tensor's index.
        """
        t = self.s.TensorT()
        t.name, t.shape = name, [int(d) for d in shape]
        t.type = getattr(self.s.TensorType, _TYPES[dtype])
        t.quantization = quant
        if signature is not None:
            t.shapeSignature = [int(d) for d in signature]
        t.buffer = 0
        if data is not None:
            buf = self.s.BufferT()
            buf.data = np.frombuffer(np.ascontiguousarray(data, dtype=dtype).tobytes(), np.uint8)
            self.buffers.append(buf)
            t.buffer = len(self.buffers) - 1
        self.tensors.append(t)
        return len(self.tensors) - 1

    def const(self, name: str, data: np.ndarray, quant: Any = None) -> int:
        """Add a constant tensor holding `data` (its dtype and shape)."""
        return self.tensor(name, data.shape, data.dtype.name, quant, data=data)

    def op(self, code: str, inputs: Sequence[int], outputs: Sequence[int],
           options: Any = None) -> None:
        """Append a builtin operator; `options` is a schema `...OptionsT` instance or None."""
        builtin = getattr(self.s.BuiltinOperator, code)
        self.opcodes.setdefault(builtin, len(self.opcodes))
        op = self.s.OperatorT()
        op.opcodeIndex = self.opcodes[builtin]
        op.inputs, op.outputs = list(inputs), list(outputs)
        if options is not None:
            op.builtinOptionsType = getattr(self.s.BuiltinOptions, type(options).__name__[:-1])
            op.builtinOptions = options
        self.operators.append(op)

    def finish(self, inputs: Sequence[int], outputs: Sequence[int], description: str) -> bytes:
        """Serialize with the TFL3 file identifier and a `serving_default` signature."""
        import flatbuffers

        s = self.s
        sub = s.SubGraphT()
        sub.tensors, sub.operators, sub.name = self.tensors, self.operators, "main"
        sub.inputs, sub.outputs = list(inputs), list(outputs)
        model = s.ModelT()
        model.version, model.description = 3, description
        codes = sorted(self.opcodes.items(), key=lambda kv: kv[1])
        model.operatorCodes = [self._code(builtin) for builtin, _ in codes]
        model.subgraphs, model.buffers = [sub], self.buffers
        model.signatureDefs = [self._signature(inputs, outputs)]
        builder = flatbuffers.Builder(1024)
        builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
        return bytes(builder.Output())

    def _code(self, builtin: int) -> Any:
        oc = self.s.OperatorCodeT()
        # Codes past 127 live only in builtinCode; older readers look at the deprecated field.
        oc.builtinCode, oc.deprecatedBuiltinCode, oc.version = builtin, min(builtin, 127), 1
        return oc

    def _signature(self, inputs: Sequence[int], outputs: Sequence[int]) -> Any:
        sig = self.s.SignatureDefT()
        sig.signatureKey, sig.subgraphIndex = SIGNATURE, 0
        sig.inputs = [self._map(i) for i in inputs]
        sig.outputs = [self._map(i) for i in outputs]
        return sig

    def _map(self, index: int) -> Any:
        m = self.s.TensorMapT()
        m.name, m.tensorIndex = self.tensors[index].name, index
        return m


def quant(scale: Sequence[float], zero_point: Sequence[int], axis: int = 0) -> Any:
    """QuantizationParametersT for per-tensor (one scale) or per-channel parameters."""
    q = schema().QuantizationParametersT()
    q.scale = [float(v) for v in scale]
    q.zeroPoint = [int(v) for v in zero_point]
    q.quantizedDimension = axis
    return q


def activation_quant(lo: float, hi: float) -> tuple[float, int]:
    """int8 asymmetric (scale, zero_point) covering [lo, hi]; the range always includes 0."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    scale = (hi - lo) / 255.0 or 1.0
    zero_point = int(np.clip(round(-128 - lo / scale), -128, 127))
    return scale, zero_point


def quantize_weights(w: np.ndarray, axis: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 weights in [-127, 127]: per channel along `axis`, or per tensor if None.

    Returns:
        (int8 weights, float scales: one per channel, or one).
    """
    if axis is None:
        scales = np.array([np.abs(w).max() / 127.0])
        q = np.round(w / scales[0])
    else:
        other = tuple(a for a in range(w.ndim) if a != axis)
        scales = np.abs(w).max(axis=other) / 127.0
        scales[scales == 0] = 1.0
        q = np.round(w / np.expand_dims(scales, other))
    return np.clip(q, -127, 127).astype(np.int8), scales


def quantize_bias(b: np.ndarray, input_scale: float, weight_scales: np.ndarray) -> np.ndarray:
    """int32 bias at scale input_scale * weight_scale (per channel), zero point 0."""
    return np.round(b / (input_scale * weight_scales)).astype(np.int32)
