"""The .tflite zoo: real flatbuffers that LiteRT runs, checked against numpy, and their preflight."""

from __future__ import annotations

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from agents.errors import UserError
from zoo import tflite as zoo_tflite
from orchestrator.plan.modelinfo import read_inputs


def _interp(model: bytes, xnnpack: bool = True) -> Interpreter:
    resolver = OpResolverType.AUTO if xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    interp = Interpreter(model_content=model, experimental_op_resolver_type=resolver)
    interp.allocate_tensors()
    return interp


def _run(interp: Interpreter, *inputs: np.ndarray) -> np.ndarray:
    for detail, value in zip(interp.get_input_details(), inputs):
        interp.set_tensor(detail["index"], value)
    interp.invoke()
    return interp.get_tensor(interp.get_output_details()[0]["index"])


def _conv(x, w, b, stride, depthwise):
    """TFLite CONV_2D / DEPTHWISE_CONV_2D, SAME padding (extra row/column at the end), NHWC."""
    k, size = w.shape[1], x.shape[1]
    out = -(-size // stride)
    pad = max((out - 1) * stride + k - size, 0)
    xp = np.pad(x, ((0, 0), (pad // 2, pad - pad // 2), (pad // 2, pad - pad // 2), (0, 0)))
    y = 0
    for i in range(k):
        for j in range(k):
            patch = xp[:, i:i + stride * out:stride, j:j + stride * out:stride, :]
            y = y + (patch * w[0, i, j] if depthwise else patch @ w[:, i, j, :].T)
    return y + b


def _reference_cnn(x: np.ndarray) -> np.ndarray:
    w = zoo_tflite.cnn_weights(zoo_tflite.CnnSpec())
    h = np.maximum(_conv(x, w["conv0"], w["conv0/bias"], 1, False), 0)
    h = np.clip(_conv(h, w["dw0"], w["dw0/bias"], 2, True), 0, 6)
    logits = h.mean(axis=(1, 2)) @ w["fc"].T + w["fc/bias"]
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _images(n: int, seed: int = 5) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((1, 32, 32, 3)).astype(np.float32) for _ in range(n)]


@pytest.mark.parametrize("name", sorted(zoo_tflite.ZOO))
def test_builds_are_deterministic(name):
    assert zoo_tflite.ZOO[name].builder(1) == zoo_tflite.ZOO[name].builder(1)


@pytest.mark.parametrize("xnnpack", [True, False])
def test_float_cnn_computes_the_documented_graph(xnnpack):
    interp = _interp(zoo_tflite.build_cnn("fp32"), xnnpack)
    for x in _images(4):
        np.testing.assert_allclose(_run(interp, x), _reference_cnn(x.astype(np.float64)), atol=2e-6)


def test_int8_cnn_is_integer_end_to_end_and_agrees_with_the_float_cnn():
    interp = _interp(zoo_tflite.build_cnn("int8"))
    (inp,), (out,) = interp.get_input_details(), interp.get_output_details()
    assert inp["dtype"] == np.int8 and out["dtype"] == np.int8
    weights = {t["name"]: t for t in interp.get_tensor_details()}["conv0/weights"]
    assert weights["dtype"] == np.int8 and len(weights["quantization_parameters"]["scales"]) == 16
    (s_in, z_in), (s_out, z_out) = inp["quantization"], out["quantization"]
    ref, got = [], []
    for x in _images(32):
        q = np.clip(np.round(x / s_in) + z_in, -128, 127).astype(np.int8)
        got.append((_run(interp, q).astype(np.float32) - z_out) * s_out)
        ref.append(_reference_cnn(x.astype(np.float64)))
    ref, got = np.concatenate(ref), np.concatenate(got)
    cosine = (ref * got).sum(axis=1) / np.linalg.norm(ref, axis=1) / np.linalg.norm(got, axis=1)
    assert cosine.min() > 0.99 and np.abs(ref - got).max() < 0.05
    assert (ref.argmax(axis=1) == got.argmax(axis=1)).mean() >= 0.9


def test_fp16_cnn_keeps_float16_weights_and_float32_compute():
    interp = _interp(zoo_tflite.build_cnn("fp16"), xnnpack=False)
    assert sum(t["dtype"] == np.float16 for t in interp.get_tensor_details()) == 6
    assert [op["op_name"] for op in interp._get_ops_details()].count("DEQUANTIZE") == 6
    for x in _images(4):
        np.testing.assert_allclose(_run(interp, x), _reference_cnn(x.astype(np.float64)), atol=1e-3)


@pytest.mark.parametrize("length", [1, 5, 37])
def test_embed_resizes_its_dynamic_length_and_computes_the_documented_graph(length):
    interp = Interpreter(model_content=zoo_tflite.build_embed())
    tokens, features = interp.get_input_details()
    assert list(tokens["shape_signature"]) == [1, -1] and tokens["dtype"] == np.int64
    interp.resize_tensor_input(tokens["index"], [1, length], strict=True)
    interp.resize_tensor_input(features["index"], [1, length, 16], strict=True)
    interp.allocate_tensors()
    const = {t["name"]: interp.get_tensor(t["index"]) for t in interp.get_tensor_details()
             if t["name"].startswith(("embedding/", "scores/"))}
    rng = np.random.default_rng(length)
    ids = rng.integers(0, 64, (1, length), dtype=np.int64)
    feats = rng.standard_normal((1, length, 16)).astype(np.float32)
    expected = (const["embedding/table"][ids] + feats).mean(axis=1) @ const["scores/weights"].T
    np.testing.assert_allclose(_run(interp, ids, feats), expected + const["scores/bias"], atol=1e-5)


def test_preflight_reads_names_dtypes_and_dynamic_dims(tmp_path):
    paths = {n: zoo_tflite.save(n, tmp_path / f"{n}.tflite") for n in zoo_tflite.ZOO}
    for name in ("cnn", "cnn-fp16", "cnn-int8"):  # int8 inputs are fed as real values
        assert [(i.name, i.dtype, i.shape) for i in read_inputs(paths[name])] == \
            [("input", "float32", (1, 32, 32, 3))]
    assert [(i.name, i.dtype, i.shape) for i in read_inputs(paths["embed"])] == \
        [("tokens", "int64", (1, None)), ("features", "float32", (1, None, 16))]
    dynamic = zoo_tflite.save("cnn", tmp_path / "dyn.tflite", batch=None)
    assert read_inputs(dynamic)[0].shape == (None, 32, 32, 3)


def test_preflight_rejects_every_truncation_and_non_tflite_files(tmp_path):
    data = zoo_tflite.build_embed()
    path = tmp_path / "cut.tflite"
    for cut in range(0, len(data), 5):
        path.write_bytes(data[:cut])
        with pytest.raises(UserError, match="not a valid TFLite model"):
            read_inputs(path)
    path.write_bytes(b"not a model at all" * 10)
    with pytest.raises(UserError, match="no TFL3 file identifier"):
        read_inputs(path)


def test_bench_zoo_writes_tflite_models(bench, tmp_path):
    proc = bench("zoo", "cnn-int8", "--format", "tflite", "-o", str(tmp_path / "m.tflite"))
    assert proc.returncode == 0, proc.stderr
    assert read_inputs(tmp_path / "m.tflite")[0].name == "input"
    bad = bench("zoo", "resnet", "--format", "tflite", "-o", str(tmp_path / "r.tflite"))
    assert bad.returncode == 1 and "unknown tflite zoo model 'resnet'" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
