"""Small synthetic ONNX models for exercising benchlab's engines end to end.

Every model is built in-process with ``onnx.helper`` and seeded numpy weights,
so the zoo needs no downloads and the same call always yields the same bytes.
Models target opset 17 / IR version 8, which both onnxruntime and OpenVINO load.
"""

from __future__ import annotations

import dataclasses
import math
import pathlib
from typing import Callable, Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8
PRODUCER = "benchlab-zoo"
_SEED = 20240601

Dim = int | str


class UnknownModel(KeyError, ValueError):
    """Raised by :func:`build` / :func:`save` for a name not in :data:`ZOO`."""

    def __str__(self) -> str:
        # KeyError would repr() the message, wrapping it in quotes.
        return str(self.args[0]) if self.args else ""


@dataclasses.dataclass(frozen=True)
class ZooEntry:
    """A registered model: its name, a one-line description and its builder."""

    name: str
    description: str
    builder: Callable[[int | None], onnx.ModelProto]


class GraphBuilder:
    """Accumulates nodes and initializers, handing out unique tensor names."""

    def __init__(self, seed: int = _SEED) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._counts: dict[str, int] = {}

    def fresh(self, prefix: str) -> str:
        """Return a name not handed out before, e.g. ``conv_3``."""
        n = self._counts.get(prefix, 0)
        self._counts[prefix] = n + 1
        return f"{prefix}_{n}"

    def const(self, value, prefix: str = "const", dtype=np.float32) -> str:
        """Add an initializer holding ``value`` and return its name."""
        name = self.fresh(prefix)
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def weight(self, shape: Sequence[int], fan_in: int, prefix: str = "w") -> str:
        """He-initialised weight, so activations keep roughly unit scale with depth."""
        w = self.rng.standard_normal(shape) * math.sqrt(2.0 / fan_in)
        return self.const(w, prefix)

    def small(self, shape: Sequence[int], prefix: str = "b", scale: float = 0.1) -> str:
        """Small random tensor for biases and shifts."""
        return self.const(self.rng.standard_normal(shape) * scale, prefix)

    def op(self, op_type: str, inputs: Sequence[str], out: str | None = None, **attrs) -> str:
        """Append a single-output node; ``out`` pins the output name (graph outputs)."""
        out = out or self.fresh(op_type.lower())
        node = helper.make_node(op_type, list(inputs), [out], name=self.fresh(f"n_{op_type}"), **attrs)
        self.nodes.append(node)
        return out

    def conv(self, x: str, cin: int, cout: int, k: int = 3, stride: int = 1, group: int = 1) -> str:
        """Bias-free Conv with 'same' padding (BatchNormalization supplies the shift)."""
        w = self.weight([cout, cin // group, k, k], fan_in=(cin // group) * k * k)
        pad = k // 2
        return self.op("Conv", [x, w], kernel_shape=[k, k], strides=[stride, stride],
                       pads=[pad] * 4, group=group)

    def bn(self, x: str, c: int) -> str:
        """Inference-mode BatchNormalization with plausible, non-trivial statistics."""
        scale = self.const(self.rng.uniform(0.5, 1.5, c), "bn_scale")
        bias = self.small([c], "bn_bias")
        mean = self.small([c], "bn_mean")
        var = self.const(self.rng.uniform(0.5, 1.5, c), "bn_var")
        return self.op("BatchNormalization", [x, scale, bias, mean, var], epsilon=1e-5)

    def relu(self, x: str) -> str:
        """ReLU."""
        return self.op("Relu", [x])

    def relu6(self, x: str) -> str:
        """ReLU6 as Clip(0, 6); opset 17 takes the bounds as inputs, not attributes."""
        return self.op("Clip", [x, self.const(0.0, "zero"), self.const(6.0, "six")])

    def gemm(self, x: str, fin: int, fout: int, out: str | None = None) -> str:
        """Fully connected layer on a [B, fin] tensor (weight stored [fout, fin])."""
        w = self.weight([fout, fin], fan_in=fin)
        return self.op("Gemm", [x, w, self.small([fout])], out=out, transB=1)

    def linear(self, x: str, fin: int, fout: int) -> str:
        """MatMul + Add, which unlike Gemm works on [B, S, fin] tensors."""
        return self.op("Add", [self.op("MatMul", [x, self.weight([fin, fout], fin)]), self.small([fout])])

    def layer_norm(self, x: str, d: int) -> str:
        """LayerNormalization over the last axis (a standard op since opset 17)."""
        scale = self.const(self.rng.uniform(0.8, 1.2, d), "ln_scale")
        return self.op("LayerNormalization", [x, scale, self.small([d], "ln_bias")], axis=-1, epsilon=1e-5)

    def model(self, name: str, doc: str, inputs, outputs, domains=()) -> onnx.ModelProto:
        """Wrap the accumulated graph into a ModelProto with zoo metadata."""
        graph = helper.make_graph(self.nodes, name, inputs, outputs, self.inits, doc_string=doc)
        opsets = [helper.make_opsetid("", OPSET)] + [helper.make_opsetid(d, 1) for d in domains]
        model = helper.make_model(graph, producer_name=PRODUCER, opset_imports=opsets, doc_string=doc)
        model.ir_version = IR_VERSION
        return model


def _tensor(name: str, elem_type: int, dims: Sequence[Dim]) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem_type, list(dims))


def _batch_dim(batch: int | None) -> Dim:
    return "batch" if batch is None else batch


def _checked(model: onnx.ModelProto) -> onnx.ModelProto:
    # full_check also runs strict shape inference, catching wiring mistakes early.
    onnx.checker.check_model(model, full_check=True)
    return model


MLP_HIDDEN = 1024


def _build_mlp(batch: int | None, hidden: int = MLP_HIDDEN) -> onnx.ModelProto:
    g = GraphBuilder()
    # Batch-1 MLPs are memory-bound; these widths keep it ~3 MB yet measurable (tens of us).
    # `hidden` widens the first layer: the same model doing more work (a nightly's slowdown).
    x = g.relu(g.gemm("input", 256, hidden))
    x = g.relu(g.gemm(x, hidden, 512))
    g.op("Softmax", [g.gemm(x, 512, 10)], out="probs", axis=-1)
    b = _batch_dim(batch)
    return g.model("mlp", ZOO["mlp"].description, [_tensor("input", TensorProto.FLOAT, [b, 256])],
                   [_tensor("probs", TensorProto.FLOAT, [b, 10])])


def _classifier_head(g: GraphBuilder, x: str, c: int) -> str:
    pooled = g.op("Flatten", [g.op("GlobalAveragePool", [x])], axis=1)
    return g.gemm(pooled, c, 10, out="logits")


def _image_model(g: GraphBuilder, name: str, batch: int | None) -> onnx.ModelProto:
    b = _batch_dim(batch)
    return g.model(name, ZOO[name].description, [_tensor("input", TensorProto.FLOAT, [b, 3, 64, 64])],
                   [_tensor("logits", TensorProto.FLOAT, [b, 10])])


def _basic_block(g: GraphBuilder, x: str, cin: int, cout: int, stride: int) -> str:
    y = g.relu(g.bn(g.conv(x, cin, cout, 3, stride), cout))
    y = g.bn(g.conv(y, cout, cout, 3), cout)
    skip = x if stride == 1 and cin == cout else g.bn(g.conv(x, cin, cout, 1, stride), cout)
    return g.relu(g.op("Add", [y, skip]))


def _build_resnet(batch: int | None) -> onnx.ModelProto:
    g = GraphBuilder()
    x = g.relu(g.bn(g.conv("input", 3, 32, 3, stride=2), 32))
    for cin, cout, stride in [(32, 32, 1), (32, 64, 2), (64, 128, 2)]:
        x = _basic_block(g, x, cin, cout, stride)
    _classifier_head(g, x, 128)
    return _image_model(g, "resnet", batch)


def _inverted_residual(g: GraphBuilder, x: str, cin: int, cout: int, stride: int, expand: int = 6) -> str:
    hidden = cin * expand
    y = g.relu6(g.bn(g.conv(x, cin, hidden, 1), hidden))
    y = g.relu6(g.bn(g.conv(y, hidden, hidden, 3, stride, group=hidden), hidden))
    # The projection stays linear: a ReLU here would destroy information in the narrow bottleneck.
    y = g.bn(g.conv(y, hidden, cout, 1), cout)
    return g.op("Add", [x, y]) if stride == 1 and cin == cout else y


def _build_mobilenetv2(batch: int | None) -> onnx.ModelProto:
    g = GraphBuilder()
    x = g.relu6(g.bn(g.conv("input", 3, 16, 3, stride=2), 16))
    for cin, cout, stride in [(16, 16, 1), (16, 24, 2), (24, 24, 1), (24, 32, 2), (32, 32, 1)]:
        x = _inverted_residual(g, x, cin, cout, stride)
    x = g.relu6(g.bn(g.conv(x, 32, 128, 1), 128))
    _classifier_head(g, x, 128)
    return _image_model(g, "mobilenetv2", batch)


_VOCAB, _D_MODEL, _HEADS, _D_FF, _MAX_POS, _SEQ = 1000, 128, 4, 512, 128, 32


def _embed(g: GraphBuilder, ids: str) -> str:
    tokens = g.op("Gather", [g.const(g.rng.standard_normal((_VOCAB, _D_MODEL)) * 0.5, "tok_emb"), ids])
    # Slicing the position table to Shape(ids)[1] keeps any sequence length <= _MAX_POS valid.
    seq_len = g.op("Shape", [ids], start=1, end=2)
    table = g.const(g.rng.standard_normal((_MAX_POS, _D_MODEL)) * 0.1, "pos_emb")
    zero = g.const([0], "zero", dtype=np.int64)
    positions = g.op("Slice", [table, zero, seq_len, zero])
    return g.op("Add", [tokens, positions])


def _split_heads(g: GraphBuilder, x: str, perm: list[int]) -> str:
    # Reshape's 0 copies the input dim, so batch and sequence stay symbolic.
    shape = g.const([0, 0, _HEADS, _D_MODEL // _HEADS], "heads_shape", dtype=np.int64)
    return g.op("Transpose", [g.op("Reshape", [x, shape])], perm=perm)


def _self_attention(g: GraphBuilder, x: str) -> str:
    q = _split_heads(g, g.linear(x, _D_MODEL, _D_MODEL), [0, 2, 1, 3])
    k_t = _split_heads(g, g.linear(x, _D_MODEL, _D_MODEL), [0, 2, 3, 1])
    v = _split_heads(g, g.linear(x, _D_MODEL, _D_MODEL), [0, 2, 1, 3])
    scale = g.const(1.0 / math.sqrt(_D_MODEL // _HEADS), "attn_scale")
    scores = g.op("Mul", [g.op("MatMul", [q, k_t]), scale])
    ctx = g.op("MatMul", [g.op("Softmax", [scores], axis=-1), v])
    merged_shape = g.const([0, 0, _D_MODEL], "merged_shape", dtype=np.int64)
    merged = g.op("Reshape", [g.op("Transpose", [ctx], perm=[0, 2, 1, 3]), merged_shape])
    return g.linear(merged, _D_MODEL, _D_MODEL)


def _gelu(g: GraphBuilder, x: str) -> str:
    # Exact (erf) GELU from primitives: opset 17 has no Gelu op.
    erf = g.op("Erf", [g.op("Div", [x, g.const(math.sqrt(2.0), "sqrt2")])])
    one_plus = g.op("Add", [erf, g.const(1.0, "one")])
    return g.op("Mul", [g.op("Mul", [x, g.const(0.5, "half")]), one_plus])


def _build_transformer(batch: int | None) -> onnx.ModelProto:
    g = GraphBuilder()
    x = g.layer_norm(_embed(g, "input_ids"), _D_MODEL)
    x = g.layer_norm(g.op("Add", [x, _self_attention(g, x)]), _D_MODEL)
    ffn = g.linear(_gelu(g, g.linear(x, _D_MODEL, _D_FF)), _D_FF, _D_MODEL)
    g.op("Add", [x, ffn], out="hidden")
    dims: list[Dim] = ["batch", "sequence"] if batch is None else [batch, _SEQ]
    return g.model("transformer", ZOO["transformer"].description,
                   [_tensor("input_ids", TensorProto.INT64, dims)],
                   [_tensor("hidden", TensorProto.FLOAT, [*dims, _D_MODEL])])


ZOO: dict[str, ZooEntry] = {
    e.name: e
    for e in [
        ZooEntry("mlp", "3-layer MLP classifier: [B,256] -> Gemm/Relu -> softmax probs [B,10]", _build_mlp),
        ZooEntry("resnet", "ResNet-style CNN: [B,3,64,64] -> 3 residual blocks -> logits [B,10]",
                 _build_resnet),
        ZooEntry("mobilenetv2", "MobileNetV2-style CNN with inverted residuals: [B,3,64,64] -> logits [B,10]",
                 _build_mobilenetv2),
        ZooEntry("transformer", "One 4-head transformer encoder block: int64 ids [B,32] -> hidden [B,32,128]"
                 " (symbolic batch also makes the sequence symbolic, up to 128)", _build_transformer),
    ]
}


def list_models() -> list[ZooEntry]:
    """Return the registered zoo models, sorted by name."""
    return [ZOO[name] for name in sorted(ZOO)]


def build(name: str, batch: int | None = 1) -> onnx.ModelProto:
    """Build zoo model ``name``; ``batch=None`` makes the batch dim symbolic ("batch").

    Raises :class:`UnknownModel` for an unregistered name and ValueError for a bad batch.
    """
    if name not in ZOO:
        raise UnknownModel(f"unknown zoo model {name!r}; known: {', '.join(sorted(ZOO))}")
    if batch is not None and (isinstance(batch, bool) or not isinstance(batch, int) or batch < 1):
        raise ValueError(f"batch must be a positive integer or None (symbolic), got {batch!r}")
    return _checked(ZOO[name].builder(batch))


def build_mlp(batch: int | None = 1, hidden: int = MLP_HIDDEN) -> onnx.ModelProto:
    """The ``mlp`` with a first hidden layer ``hidden`` wide (1024 is the zoo's own): with
    onnxruntime on one thread, 1136 is about 10 % slower per inference, 1080 about 5 %
    (benchmarks/regression_quality.py measured +9.8 % and +5.3 %).

    Raises ValueError for a width below 1.
    """
    if isinstance(hidden, bool) or not isinstance(hidden, int) or hidden < 1:
        raise ValueError(f"hidden width must be a positive integer, got {hidden!r}")
    return _checked(_build_mlp(batch, hidden))


def save(name: str, path: str | pathlib.Path, batch: int | None = 1,
         hidden: int | None = None) -> pathlib.Path:
    """Build zoo model ``name`` (``hidden``: the mlp's first-layer width, see
    :func:`build_mlp`) and write it to ``path``; returns the path written."""
    if hidden is not None and name != "mlp":
        raise ValueError(f"a hidden width applies to the mlp only, not {name!r}")
    model = build(name, batch) if hidden is None else build_mlp(batch, hidden)
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def build_dynamic_mlp() -> onnx.ModelProto:
    """The ``mlp`` model with a symbolic batch: input "input" ["batch", 256]."""
    return build("mlp", batch=None)


def build_multi_input() -> onnx.ModelProto:
    """Three inputs of different dtypes/ranks: "audio" f32 [batch, samples],
    "sample_rate" int64 scalar and "mask" bool [batch, samples].

    Outputs "energy" f32 [batch] (masked sum of squares / sample_rate) and
    "rate_check" int64 scalar (1 when sample_rate == 16000, else 0).
    """
    g = GraphBuilder()
    squared = g.op("Mul", ["audio", "audio"])
    masked = g.op("Where", ["mask", squared, g.const(0.0, "zero")])
    total = g.op("ReduceSum", [masked, g.const([1], "axes", dtype=np.int64)], keepdims=0)
    rate = g.op("Cast", ["sample_rate"], to=TensorProto.FLOAT)
    g.op("Div", [total, rate], out="energy")
    is_16k = g.op("Equal", ["sample_rate", g.const(16000, "rate16k", dtype=np.int64)])
    g.op("Cast", [is_16k], out="rate_check", to=TensorProto.INT64)
    inputs = [_tensor("audio", TensorProto.FLOAT, ["batch", "samples"]),
              _tensor("sample_rate", TensorProto.INT64, []),
              _tensor("mask", TensorProto.BOOL, ["batch", "samples"])]
    outputs = [_tensor("energy", TensorProto.FLOAT, ["batch"]), _tensor("rate_check", TensorProto.INT64, [])]
    return _checked(g.model("multi_input", "Multi-input audio energy test model", inputs, outputs))


def build_unsupported_op() -> onnx.ModelProto:
    """A well-formed model whose only node is an op no engine implements
    (``com.benchlab.test::NoSuchOp``), so loading it must fail. Not checker-validated.
    """
    g = GraphBuilder()
    g.nodes.append(helper.make_node("NoSuchOp", ["x"], ["y"], name="no_such_op", domain="com.benchlab.test"))
    return g.model("unsupported_op", "Uses an op from an unknown custom domain",
                   [_tensor("x", TensorProto.FLOAT, [1, 4])], [_tensor("y", TensorProto.FLOAT, [1, 4])],
                   domains=("com.benchlab.test",))


def build_identity(shape: Sequence[Dim] = (1, 16)) -> onnx.ModelProto:
    """Single Identity node: float32 "x" -> "y", both of ``shape`` (ints or dim names)."""
    g = GraphBuilder()
    g.op("Identity", ["x"], out="y")
    return _checked(g.model("identity", "Identity passthrough", [_tensor("x", TensorProto.FLOAT, shape)],
                            [_tensor("y", TensorProto.FLOAT, shape)]))
