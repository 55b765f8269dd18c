"""Tests for zoo: every model must load and agree on onnxruntime and OpenVINO."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import openvino as ov
import pytest

import zoo

NAMES = sorted(zoo.ZOO)
# Concrete sizes used to feed models built with symbolic dims.
DYN_BATCH, DYN_SEQ = 2, 16


def _inputs(name: str, batch: int | None, rng: np.random.Generator) -> dict[str, np.ndarray]:
    b = DYN_BATCH if batch is None else batch
    if name == "transformer":
        seq = DYN_SEQ if batch is None else 32
        return {"input_ids": rng.integers(0, 1000, size=(b, seq), dtype=np.int64)}
    if name == "mlp":
        return {"input": rng.standard_normal((b, 256)).astype(np.float32)}
    return {"input": rng.standard_normal((b, 3, 64, 64)).astype(np.float32)}


def _expected_shape(name: str, batch: int | None) -> tuple[int, ...]:
    b = DYN_BATCH if batch is None else batch
    if name == "transformer":
        return (b, DYN_SEQ if batch is None else 32, 128)
    return (b, 10)


def _run_ort(model_path, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    sess = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def _run_openvino(model_path, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    # CPUs with bf16 support default to bf16 inference; pin f32 so outputs are comparable.
    compiled = ov.Core().compile_model(str(model_path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    result = compiled(feeds)
    return [np.asarray(result[out]) for out in compiled.outputs]


@pytest.mark.parametrize("batch", [1, None], ids=["batch1", "symbolic"])
@pytest.mark.parametrize("name", NAMES)
def test_model_runs_and_engines_agree(name, batch, tmp_path):
    path = zoo.save(name, tmp_path / f"{name}.onnx", batch=batch)
    feeds = _inputs(name, batch, np.random.default_rng(0))

    ort_out = _run_ort(path, feeds)
    ov_out = _run_openvino(path, feeds)

    assert len(ort_out) == len(ov_out) == 1
    assert ort_out[0].shape == _expected_shape(name, batch)
    assert ort_out[0].dtype == np.float32
    assert np.isfinite(ort_out[0]).all()
    np.testing.assert_allclose(ov_out[0], ort_out[0], atol=1e-3, rtol=1e-3)


@pytest.mark.parametrize("name", NAMES)
def test_model_metadata_and_io(name):
    model = zoo.build(name, batch=None)
    assert model.opset_import[0].version == zoo.OPSET
    assert model.ir_version == zoo.IR_VERSION
    assert model.producer_name == "benchlab-zoo"
    assert model.graph.name == name
    assert model.doc_string == zoo.ZOO[name].description
    batch_dim = model.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch_dim.dim_param == "batch"


def test_build_is_deterministic():
    for name in NAMES:
        assert zoo.build(name).SerializeToString() == zoo.build(name).SerializeToString()


def test_mlp_probs_sum_to_one():
    feeds = {"input": np.random.default_rng(1).standard_normal((3, 256)).astype(np.float32)}
    sess = ort.InferenceSession(zoo.build_dynamic_mlp().SerializeToString(), providers=["CPUExecutionProvider"])
    (probs,) = sess.run(["probs"], feeds)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_transformer_symbolic_dims():
    dims = zoo.build("transformer", batch=None).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param for d in dims] == ["batch", "sequence"]


def test_list_models_matches_registry():
    entries = zoo.list_models()
    assert [e.name for e in entries] == NAMES == ["mlp", "mobilenetv2", "resnet", "transformer"]
    assert all(isinstance(e, zoo.ZooEntry) and e.description for e in entries)


def test_unknown_model_error():
    with pytest.raises(zoo.UnknownModel) as info:
        zoo.build("nope")
    assert str(info.value) == "unknown zoo model 'nope'; known: mlp, mobilenetv2, resnet, transformer"
    assert isinstance(info.value, KeyError) and isinstance(info.value, ValueError)
    with pytest.raises(zoo.UnknownModel):
        zoo.save("nope", "/nonexistent/never-written.onnx")


@pytest.mark.parametrize("batch", [0, -1, 1.5, True])
def test_bad_batch_rejected(batch):
    with pytest.raises(ValueError, match="batch must be a positive integer"):
        zoo.build("mlp", batch=batch)


def test_save_writes_loadable_file(tmp_path):
    path = zoo.save("mlp", tmp_path / "sub" / "mlp.onnx", batch=4)
    assert path.is_file()
    dims = onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in dims] == [4, 256]


def test_multi_input_runs_on_onnxruntime():
    sess = ort.InferenceSession(zoo.build_multi_input().SerializeToString(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(2)
    audio = rng.standard_normal((2, 100)).astype(np.float32)
    mask = rng.random((2, 100)) > 0.3
    feeds = {"audio": audio, "sample_rate": np.array(16000, dtype=np.int64), "mask": mask}
    energy, rate_check = sess.run(["energy", "rate_check"], feeds)
    expected = np.where(mask, audio * audio, 0).sum(axis=1) / 16000.0
    np.testing.assert_allclose(energy, expected, rtol=1e-5)
    assert rate_check.dtype == np.int64 and rate_check.shape == () and rate_check == 1
    feeds["sample_rate"] = np.array(8000, dtype=np.int64)
    assert sess.run(["rate_check"], feeds)[0] == 0


def test_multi_input_runs_on_openvino(tmp_path):
    path = tmp_path / "multi.onnx"
    onnx.save(zoo.build_multi_input(), str(path))
    feeds = {"audio": np.full((2, 10), 2.0, np.float32), "sample_rate": np.array(16000, dtype=np.int64),
             "mask": np.ones((2, 10), dtype=bool)}
    energy, rate_check = _run_openvino(path, feeds)
    np.testing.assert_allclose(energy, [40.0 / 16000] * 2, rtol=1e-5)
    assert int(rate_check) == 1


def test_unsupported_op_fails_to_load(tmp_path):
    path = tmp_path / "bad.onnx"
    onnx.save(zoo.build_unsupported_op(), str(path))
    with pytest.raises(Exception, match="NoSuchOp"):
        ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    with pytest.raises(RuntimeError, match="NoSuchOp"):
        ov.Core().compile_model(str(path), "CPU")


@pytest.mark.parametrize("shape", [(1, 16), ("n", 8)])
def test_identity_passthrough(shape):
    sess = ort.InferenceSession(zoo.build_identity(shape).SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.arange(16, dtype=np.float32).reshape(-1, shape[1])
    np.testing.assert_array_equal(sess.run(["y"], {"x": x})[0], x)
