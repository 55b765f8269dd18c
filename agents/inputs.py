"""Input shapes and input data for a run.

Shapes: every dynamic dim must be fixed by the user (`--shape NAME=1,3,224,224`), like
trtexec `--shapes` and benchmark_app `-shape`. Data: real arrays from .npy/.npz files where
given, random data of the input's dtype elsewhere, in several distinct sets so that the timing
loop never reuses one pre-filled tensor.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from agents.engines.base import TensorInfo
from agents.errors import UserError


def resolve_shapes(inputs: list[TensorInfo], user: dict[str, list[int]]) -> dict[str, list[int]]:
    """Concrete shape of every input, from the model's fixed dims and the user's shapes.

    Raises:
        UserError: a shape for an unknown input, a wrong rank, a conflict with a fixed dim,
            or a dynamic dim left open (naming the input and its symbolic dims).
    """
    by_name = {t.name: t for t in inputs}
    for name in user:
        if name not in by_name:
            raise UserError(f"--shape names input '{name}', which the model does not have; "
                            f"inputs: {', '.join(by_name)}")
    return {t.name: _resolve_one(t, user.get(t.name)) for t in inputs}


def _resolve_one(info: TensorInfo, given: list[int] | None) -> list[int]:
    if given is None:
        if info.dynamic_dims:
            example = ",".join(str(d) if isinstance(d, int) else "N" for d in info.shape)
            raise UserError(f"input '{info.name}' has dynamic dims {info.dynamic_dims} "
                            f"(shape {_fmt(info.shape)}); pass --shape {info.name}={example}")
        return [int(d) for d in info.shape if d is not None]  # all int: checked above
    if len(given) != len(info.shape):
        raise UserError(f"--shape {info.name}: rank {len(given)} given, the model's input has "
                        f"rank {len(info.shape)} (shape {_fmt(info.shape)})")
    for axis, (want, got) in enumerate(zip(info.shape, given)):
        if got < 0 or (isinstance(want, int) and want != got):
            raise UserError(f"--shape {info.name}: dim {axis} is {got}, the model fixes it "
                            f"at {want} (shape {_fmt(info.shape)})")
    return [int(d) for d in given]


def _fmt(shape: tuple) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


# What numpy raises on a truncated, corrupt or foreign file.
_UNREADABLE = (OSError, ValueError, EOFError, zipfile.BadZipFile)


def load_user_data(files: dict[str, str], npz: str | None) -> dict[str, np.ndarray]:
    """Read real input arrays from .npy files and/or a .npz file.

    Raises:
        UserError: a missing or unreadable file.
    """
    data: dict[str, np.ndarray] = {}
    if npz:
        try:
            with np.load(npz, allow_pickle=False) as z:
                data.update({k: z[k] for k in z.files})
        except _UNREADABLE as e:
            raise UserError(f"{npz}: cannot read .npz file: {e}") from None
    for name, path in files.items():
        try:
            data[name] = np.load(path, allow_pickle=False)
        except _UNREADABLE as e:
            raise UserError(f"--input {name}={path}: cannot read .npy file: {e}") from None
    return data


def shapes_from_data(inputs: list[TensorInfo], data: dict[str, np.ndarray]) -> dict[str, list[int]]:
    """Shapes implied by user data for the inputs it covers (so --shape is not needed twice)."""
    names = {t.name for t in inputs}
    unknown = sorted(set(data) - names)
    if unknown:
        raise UserError(f"input data names {', '.join(unknown)}, which the model does not have; "
                        f"inputs: {', '.join(sorted(names))}")
    return {name: list(arr.shape) for name, arr in data.items()}


def make_input_sets(inputs: list[TensorInfo], shapes: dict[str, list[int]],
                    user: dict[str, np.ndarray], sets: int, seed: int) -> list[dict[str, np.ndarray]]:
    """`sets` distinct feeds: user arrays where given (cast to the input's dtype), random elsewhere.

    Raises:
        UserError: user data whose shape or dtype does not fit the input.
    """
    rng = np.random.default_rng(seed)
    fixed = {t.name: _fit_user(t, shapes[t.name], user[t.name]) for t in inputs if t.name in user}
    out = []
    for _ in range(max(1, sets)):
        feed = {t.name: fixed[t.name] if t.name in fixed else _random(t, shapes[t.name], rng)
                for t in inputs}
        out.append(feed)
    return out


def _fit_user(info: TensorInfo, shape: list[int], arr: np.ndarray) -> np.ndarray:
    if list(arr.shape) != list(shape):
        raise UserError(f"input '{info.name}': data has shape {list(arr.shape)}, "
                        f"the run uses {shape}")
    want: np.dtype[Any] = np.dtype(info.dtype)
    if arr.dtype != want and not np.can_cast(arr.dtype, want, casting="same_kind"):
        raise UserError(f"input '{info.name}': data has dtype {arr.dtype}, the model wants {want}")
    return np.require(arr, dtype=want, requirements="C")


def _random(info: TensorInfo, shape: list[int], rng: np.random.Generator) -> np.ndarray:
    dtype: np.dtype[Any] = np.dtype(info.dtype)
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    if dtype.kind == "f":
        return rng.standard_normal(shape, dtype=np.float32).astype(dtype)
    if dtype.kind in "iu":
        # Small non-negative values: valid token ids, class ids and indices for most models.
        high = min(64, np.iinfo(dtype).max)
        return rng.integers(0, high, size=shape, dtype=dtype, endpoint=False)
    raise UserError(f"input '{info.name}' has dtype {dtype}, for which benchlab cannot make "
                    f"random data; pass --input {info.name}=file.npy")


def calibration_sha256(path: str) -> str:
    """sha256 over a calibration .npz, or over a folder's .npz/.npy files in name order."""
    import hashlib

    p = Path(path)
    files = calibration_files(p) if p.is_dir() else [p]
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode() if p.is_dir() else b"")
        h.update(f.read_bytes())
    return h.hexdigest()


class Calibration:
    """Input sets for int8 calibration, from the user's data or generated.

    Args:
        path: a .npz whose keys are input names (arrays with one extra leading axis hold
            several samples), or a folder of such .npz files and/or of .npy files (samples of a
            one-input model); None: generated random data.
        shapes: the user's shapes for dynamic inputs.
        samples: how many sets to generate when there is no path.
    """

    def __init__(self, path: str | None, shapes: dict[str, list[int]], samples: int = 32):
        self.path, self.shapes, self.samples = path, shapes, samples

    @property
    def generated(self) -> bool:
        """True when the sets are random data: accuracy figures are then not representative."""
        return self.path is None

    def sets(self, inputs: list[TensorInfo]) -> list[dict[str, np.ndarray]]:
        """The calibration feeds for a model with these inputs.

        Raises:
            UserError: unreadable data, or data that does not fit the inputs.
        """
        shapes = resolve_shapes(inputs, self.shapes)
        if self.path is None:  # generated
            return make_input_sets(inputs, shapes, {}, self.samples, seed=1)
        p = Path(self.path)
        files = calibration_files(p) if p.is_dir() else [p]
        out: list[dict[str, np.ndarray]] = []
        for f in files:
            if f.suffix == ".npy":  # a folder of .npy files: samples of a model's only input
                if len(inputs) != 1:
                    raise UserError(f"calibration data {f.name}: .npy files fit a model with one "
                                    f"input; this one has {len(inputs)}: use .npz files keyed by "
                                    "input name")
                out.extend(_split_samples(inputs, shapes, load_user_data({inputs[0].name: str(f)}, None)))
            else:
                out.extend(_split_samples(inputs, shapes, load_user_data({}, str(f))))
        if not out:
            raise UserError(f"calibration data {self.path}: no .npz or .npy files with input sets")
        return out


def calibration_files(folder: Path) -> list[Path]:
    """The data files of a calibration folder, in name order: .npz (keyed by input name) and
    .npy (samples of a model's only input)."""
    return sorted(f for f in Path(folder).iterdir() if f.suffix in (".npz", ".npy") and f.is_file())


def _split_samples(inputs: list[TensorInfo], shapes: dict[str, list[int]],
                   data: dict[str, np.ndarray]) -> list[dict[str, np.ndarray]]:
    missing = [t.name for t in inputs if t.name not in data]
    if missing:
        raise UserError(f"calibration data lacks input(s) {', '.join(missing)}")
    counts = {t.name: data[t.name].shape[0] if data[t.name].ndim == len(shapes[t.name]) + 1 else None
              for t in inputs}
    n = {c for c in counts.values() if c is not None}
    if len(n) > 1:
        raise UserError(f"calibration data: inputs hold different sample counts {counts}")
    if not n:
        return [{t.name: _fit_user(t, shapes[t.name], data[t.name]) for t in inputs}]
    return [{t.name: _fit_user(t, shapes[t.name], data[t.name][i] if counts[t.name] else data[t.name])
             for t in inputs} for i in range(n.pop())]
