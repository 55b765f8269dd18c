"""Shapes for dynamic inputs and the data fed to them."""

import numpy as np
import pytest

from agents.engines.base import TensorInfo
from agents.errors import UserError
from agents.inputs import load_user_data, make_input_sets, resolve_shapes

AUDIO = TensorInfo("audio", "float32", ("batch", "samples"))
RATE = TensorInfo("sample_rate", "int64", ())
IMAGE = TensorInfo("image", "float32", (None, 3, 8, 8))


def test_fixed_and_user_shapes_resolve():
    shapes = resolve_shapes([AUDIO, RATE], {"audio": [2, 160]})
    assert shapes == {"audio": [2, 160], "sample_rate": []}


def test_open_dynamic_dim_names_input_and_dims():
    with pytest.raises(UserError) as e:
        resolve_shapes([AUDIO], {})
    assert "'audio'" in str(e.value) and "batch" in str(e.value) and "samples" in str(e.value)
    assert "--shape audio=N,N" in str(e.value)


def test_unnamed_dynamic_dim_is_reported_too():
    with pytest.raises(UserError, match=r"--shape image=N,3,8,8"):
        resolve_shapes([IMAGE], {})


def test_shape_for_missing_input_lists_inputs():
    with pytest.raises(UserError, match="'nope'.*inputs: audio"):
        resolve_shapes([AUDIO], {"nope": [1]})


def test_wrong_rank_is_refused():
    with pytest.raises(UserError, match="rank 3 given.*rank 4"):
        resolve_shapes([IMAGE], {"image": [1, 3, 8]})


def test_conflict_with_fixed_dim_is_refused():
    with pytest.raises(UserError, match="dim 1 is 4, the model fixes it at 3"):
        resolve_shapes([IMAGE], {"image": [1, 4, 8, 8]})


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "int32", "int64", "uint8", "bool"])
def test_random_data_has_the_inputs_dtype_and_shape(dtype):
    info = TensorInfo("x", dtype, (2, 5))
    (feed,) = make_input_sets([info], {"x": [2, 5]}, {}, sets=1, seed=0)
    assert feed["x"].dtype == np.dtype(dtype) and feed["x"].shape == (2, 5)


def test_scalar_input_is_rank_zero():
    (feed,) = make_input_sets([RATE], {"sample_rate": []}, {}, sets=1, seed=0)
    assert feed["sample_rate"].shape == () and feed["sample_rate"].dtype == np.int64


def test_sets_are_distinct_and_reproducible():
    info = TensorInfo("x", "float32", (4,))
    a = make_input_sets([info], {"x": [4]}, {}, sets=3, seed=7)
    b = make_input_sets([info], {"x": [4]}, {}, sets=3, seed=7)
    assert not np.array_equal(a[0]["x"], a[1]["x"])
    assert all(np.array_equal(x["x"], y["x"]) for x, y in zip(a, b))


def test_user_data_is_used_and_cast(tmp_path):
    np.save(tmp_path / "rate.npy", np.array(16000, dtype=np.int32))
    data = load_user_data({"sample_rate": str(tmp_path / "rate.npy")}, None)
    sets = make_input_sets([RATE], {"sample_rate": []}, data, sets=2, seed=0)
    assert all(s["sample_rate"] == 16000 and s["sample_rate"].dtype == np.int64 for s in sets)
    assert all(s["sample_rate"].shape == () for s in sets)


def test_user_data_of_wrong_shape_is_refused():
    with pytest.raises(UserError, match="data has shape"):
        make_input_sets([IMAGE], {"image": [1, 3, 8, 8]}, {"image": np.zeros((2, 3, 8, 8), np.float32)}, 1, 0)


def test_user_data_of_wrong_kind_is_refused():
    with pytest.raises(UserError, match="dtype"):
        make_input_sets([RATE], {"sample_rate": []}, {"sample_rate": np.array(1.5)}, 1, 0)


def test_unreadable_data_file_is_a_user_error(tmp_path):
    (tmp_path / "bad.npz").write_text("not numpy")
    with pytest.raises(UserError, match="bad.npz"):
        load_user_data({}, str(tmp_path / "bad.npz"))
