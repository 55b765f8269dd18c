"""Small real `.tflite` models, built without TensorFlow and without a download.

The flatbuffers are written with LiteRT's generated schema (see `tflite_builder`) from seeded
numpy weights, so the same call yields the same bytes. The int8 CNN is the float CNN quantized
the way the TFLite converter does it: activation ranges calibrated by running the float model in
LiteRT's own interpreter on seeded standard-normal inputs (what `bench run` feeds by default).

- `cnn`: NHWC float32 [B,S,S,3] -> CONV_2D(+bias, RELU) -> DEPTHWISE_CONV_2D(stride 2, RELU6)
  -> MEAN over H,W -> FULLY_CONNECTED -> SOFTMAX [B,10].
- `cnn-fp16`: the same with float16 weights behind DEQUANTIZE ops (the converter's fp16 mode).
- `cnn-int8`: the same, int8 end to end (int8 input and output, per-channel conv weights).
- `embed`: two inputs with a dynamic length T: "tokens" int64 [1,T] and "features" float32
  [1,T,16] -> GATHER + ADD -> MEAN over T -> FULLY_CONNECTED "scores" [1,4].
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Callable

import numpy as np

from zoo.tflite_builder import (FlatModel, activation_quant, quant, quantize_bias,
                                         quantize_weights)

_SEED = 20240601
CALIBRATION_SETS = 16


@dataclasses.dataclass(frozen=True)
class CnnSpec:
    """Size of the zoo CNN: input S x S x 3, `width` channels, `blocks` depthwise blocks."""

    size: int = 32
    width: int = 16
    blocks: int = 1
    classes: int = 10
    batch: int | None = 1
    seed: int = _SEED


@dataclasses.dataclass(frozen=True)
class TfliteZooEntry:
    """A registered model: name, one-line description, builder (batch -> flatbuffer bytes)."""

    name: str
    description: str
    builder: Callable[[int | None], bytes]


def _conv_layers(spec: CnnSpec) -> list[tuple[str, str, int, int]]:
    """(kind, name, stride, fused activation) for each convolution, in order."""
    layers = [("CONV_2D", "conv0", 1, 1)]
    for k in range(spec.blocks):
        last = k == spec.blocks - 1
        layers.append(("DEPTHWISE_CONV_2D", f"dw{k}", 2 if last else 1, 3))  # 3: RELU6
        if not last:
            layers.append(("CONV_2D", f"pw{k}", 1, 1))  # 1x1 pointwise, RELU
    return layers


def cnn_weights(spec: CnnSpec) -> dict[str, np.ndarray]:
    """He-initialised float32 weights (TFLite layouts: OHWI, depthwise 1HWC, FC [out, in])."""
    rng = np.random.default_rng(spec.seed)
    w, out = spec.width, {}

    def he(shape: tuple[int, ...], fan_in: int) -> np.ndarray:
        return (rng.standard_normal(shape) * math.sqrt(2.0 / fan_in)).astype(np.float32)

    for kind, name, _, _ in _conv_layers(spec):
        if name == "conv0":
            out[name] = he((w, 3, 3, 3), 27)
        elif kind == "DEPTHWISE_CONV_2D":
            out[name] = he((1, 3, 3, w), 9)
        else:
            out[name] = he((w, 1, 1, w), w)
        out[name + "/bias"] = (rng.standard_normal(w) * 0.1).astype(np.float32)
    out["fc"] = he((spec.classes, w), w)
    out["fc/bias"] = (rng.standard_normal(spec.classes) * 0.1).astype(np.float32)
    return out


class _Cnn:
    """Emits the CNN graph in one of three modes: fp32, fp16 (weights) or int8."""

    def __init__(self, spec: CnnSpec, mode: str, ranges: dict[str, tuple[float, float]] | None):
        self.spec, self.mode, self.ranges = spec, mode, ranges or {}
        self.w = cnn_weights(spec)
        self.fm = FlatModel()
        self.act_dtype = "int8" if mode == "int8" else "float32"

    def act(self, name: str, shape: list[int], fixed: tuple[float, int] | None = None) -> int:
        """An activation tensor; the batch dim is -1 in the signature when the batch is dynamic."""
        q = None
        if self.mode == "int8":
            scale, zp = fixed or activation_quant(*self.ranges[name])
            q = quant([scale], [zp])
        signature = None if self.spec.batch else [-1, *shape[1:]]
        return self.fm.tensor(name, shape, self.act_dtype, q, signature=signature)

    def scale(self, tensor: int) -> float:
        return self.fm.tensors[tensor].quantization.scale[0]

    def weights(self, name: str, x: int, axis: int | None) -> tuple[int, int]:
        """Weight and bias tensors for layer `name` whose input is tensor `x`."""
        w, b = self.w[name], self.w[name + "/bias"]
        if self.mode == "int8":
            qw, scales = quantize_weights(w, axis)
            q_axis = axis or 0
            wi = self.fm.const(name + "/weights", qw, quant(scales, [0] * len(scales), q_axis))
            qb = quantize_bias(b, self.scale(x), scales)
            bi = self.fm.const(name + "/bias", qb, quant(self.scale(x) * scales, [0] * len(scales)))
            return wi, bi
        if self.mode == "fp16":
            return self.dequantized(name + "/weights", w), self.dequantized(name + "/bias", b)
        return self.fm.const(name + "/weights", w), self.fm.const(name + "/bias", b)

    def dequantized(self, name: str, value: np.ndarray) -> int:
        half = self.fm.const(name + "_fp16", value.astype(np.float16))
        full = self.fm.tensor(name, value.shape, "float32")
        self.fm.op("DEQUANTIZE", [half], [full])
        return full

    def build(self) -> bytes:
        s, spec, fm = self.fm.s, self.spec, self.fm
        b, size = spec.batch or 1, spec.size
        x = first = self.act("input", [b, size, size, 3])
        for kind, name, stride, fused in _conv_layers(spec):
            size = -(-size // stride)
            axis = 3 if kind == "DEPTHWISE_CONV_2D" else 0
            wi, bi = self.weights(name, x, axis)
            y = self.act(name, [b, size, size, spec.width])
            opts = s.DepthwiseConv2DOptionsT() if axis == 3 else s.Conv2DOptionsT()
            opts.padding, opts.strideH, opts.strideW = s.Padding.SAME, stride, stride
            opts.fusedActivationFunction = fused
            if axis == 3:
                opts.depthMultiplier = 1
            fm.op(kind, [x, wi, bi], [y], opts)
            x = y
        pooled = self.act("pool", [b, spec.width])
        fm.op("MEAN", [x, fm.const("pool/axes", np.array([1, 2], np.int32))], [pooled],
              s.ReducerOptionsT())  # keepDims defaults to false
        wi, bi = self.weights("fc", pooled, None)
        logits = self.act("logits", [b, spec.classes])
        fm.op("FULLY_CONNECTED", [pooled, wi, bi], [logits], s.FullyConnectedOptionsT())
        # The int8 SOFTMAX kernel requires this output quantization.
        out = self.act("output", [b, spec.classes], fixed=(1.0 / 256, -128))
        softmax = s.SoftmaxOptionsT()
        softmax.beta = 1.0
        fm.op("SOFTMAX", [logits], [out], softmax)
        return fm.finish([first], [out], f"benchlab-zoo cnn {self.mode}")


def build_cnn(precision: str = "fp32", spec: CnnSpec = CnnSpec()) -> bytes:
    """The zoo CNN as a flatbuffer: precision fp32, fp16 (float16 weights) or int8.

    Raises:
        ValueError: an unknown precision.
    """
    if precision not in ("fp32", "fp16", "int8"):
        raise ValueError(f"unknown precision '{precision}'; known: fp32, fp16, int8")
    ranges = calibrate(_Cnn(spec, "fp32", None).build(), spec) if precision == "int8" else None
    return _Cnn(spec, precision, ranges).build()


def calibrate(model: bytes, spec: CnnSpec) -> dict[str, tuple[float, float]]:
    """Min/max of every float tensor over seeded standard-normal inputs, from LiteRT itself."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    # Without the XNNPACK delegate and with every tensor preserved, so intermediates are readable.
    interp = Interpreter(model_content=model, experimental_preserve_all_tensors=True,
                         experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interp.allocate_tensors()
    rng = np.random.default_rng(spec.seed + 1)
    detail = interp.get_input_details()[0]
    ranges: dict[str, tuple[float, float]] = {}
    for _ in range(CALIBRATION_SETS):
        interp.set_tensor(detail["index"], rng.standard_normal(detail["shape"]).astype(np.float32))
        interp.invoke()
        for t in interp.get_tensor_details():
            if t["dtype"] != np.float32 or "/" in t["name"]:
                continue  # constants (weights, biases) are named "layer/..."
            value = interp.get_tensor(t["index"])
            lo, hi = ranges.get(t["name"], (0.0, 0.0))
            ranges[t["name"]] = (min(lo, float(value.min())), max(hi, float(value.max())))
    return ranges


def build_embed(batch: int | None = 1, length: int = 8, dim: int = 16, vocab: int = 64,
                seed: int = _SEED) -> bytes:
    """Two inputs with a dynamic length: "tokens" int64 [1,T], "features" float32 [1,T,dim].

    `length` is only the placeholder T in the file; the signature says -1.

    Raises:
        ValueError: a batch other than 1 (the length is the dynamic dim of this model).
    """
    if batch != 1:
        raise ValueError("embed has batch 1 and a dynamic length; --batch/--dynamic do not apply")
    rng = np.random.default_rng(seed)
    fm = FlatModel()
    s = fm.s
    tokens = fm.tensor("tokens", [1, length], "int64", signature=[1, -1])
    features = fm.tensor("features", [1, length, dim], "float32", signature=[1, -1, dim])
    table = fm.const("embedding/table", rng.standard_normal((vocab, dim)).astype(np.float32))
    embedded = fm.tensor("embedded", [1, length, dim], "float32", signature=[1, -1, dim])
    gather = s.GatherOptionsT()
    gather.axis = 0
    fm.op("GATHER", [table, tokens], [embedded], gather)
    summed = fm.tensor("summed", [1, length, dim], "float32", signature=[1, -1, dim])
    fm.op("ADD", [embedded, features], [summed], s.AddOptionsT())
    pooled = fm.tensor("pooled", [1, dim], "float32")
    fm.op("MEAN", [summed, fm.const("pooled/axes", np.array([1], np.int32))], [pooled],
          s.ReducerOptionsT())  # keepDims defaults to false
    weights = fm.const("scores/weights", (rng.standard_normal((4, dim)) / dim).astype(np.float32))
    scores = fm.tensor("scores", [1, 4], "float32")
    fm.op("FULLY_CONNECTED", [pooled, weights, fm.const("scores/bias", np.zeros(4, np.float32))],
          [scores], s.FullyConnectedOptionsT())
    return fm.finish([tokens, features], [scores], "benchlab-zoo embed")


ZOO: dict[str, TfliteZooEntry] = {
    "cnn": TfliteZooEntry("cnn", "float32 NHWC CNN: conv, depthwise conv, mean, FC, softmax",
                          lambda batch: build_cnn("fp32", CnnSpec(batch=batch))),
    "cnn-fp16": TfliteZooEntry("cnn-fp16", "the cnn with float16 weights (DEQUANTIZE to float32)",
                               lambda batch: build_cnn("fp16", CnnSpec(batch=batch))),
    "cnn-int8": TfliteZooEntry("cnn-int8", "the cnn quantized to int8 (int8 input and output)",
                               lambda batch: build_cnn("int8", CnnSpec(batch=batch))),
    "embed": TfliteZooEntry("embed", "two inputs, dynamic length: int64 tokens + float features",
                            lambda batch: build_embed(batch)),
}


def list_models() -> list[TfliteZooEntry]:
    """The registered .tflite zoo models, sorted by name."""
    return [ZOO[name] for name in sorted(ZOO)]


def save(name: str, path: str | Path, batch: int | None = 1) -> Path:
    """Build zoo model `name` and write it to `path`; returns the path written.

    Raises:
        ValueError: an unknown name, with the known ones.
    """
    if name not in ZOO:
        raise ValueError(f"unknown tflite zoo model '{name}'; known: {', '.join(sorted(ZOO))}")
    if batch is not None and batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(ZOO[name].builder(batch))
    return path
