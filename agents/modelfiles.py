"""A model is sometimes more than one file: an ONNX model with external data (every model over
2 GB, and many exported by PyTorch or optimum), or an OpenVINO IR (.xml beside its .bin).

The companions are named by their location relative to the model's folder (as the model refers
to them) and hashed; the model's identity (`ModelRef.sha256`: the artifact cache key, the series
key, the stored runs) covers them, so new weights under the same file name are a new model.
A model without companions keeps the plain sha256 of its file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from agents.errors import InfraError, UserError


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def companion_names(path: Path) -> list[str]:
    """Files the model at `path` needs beside it, relative to its folder, sorted.

    Raises:
        UserError: a location that leaves the model's folder (absolute, or with ..), or a
            companion that is missing.
    """
    path = Path(path)
    names = referenced(path)
    for name in names:
        pure = PurePosixPath(name.replace("\\", "/"))
        if pure.is_absolute() or ".." in pure.parts or not pure.parts:
            raise UserError(f"{path.name}: external data location {name!r} leaves the model's folder")
        if not (path.parent / pure).is_file():
            raise UserError(f"{path.name}: external data file {name!r} is missing (looked in {path.parent})")
    return names


def referenced(path: Path) -> list[str]:
    """The companion names the model refers to, unchecked (they may be missing or unsafe)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".xml":
        return [path.with_suffix(".bin").name] if path.with_suffix(".bin").is_file() else []
    return _onnx_locations(path) if suffix == ".onnx" else []


def _onnx_locations(path: Path) -> list[str]:
    import onnx
    from onnx.external_data_helper import ExternalDataInfo, uses_external_data

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # not parseable: the engine's own loader gives the user the reason later
        return []
    return sorted({ExternalDataInfo(t).location for t in _tensors(model.graph) if uses_external_data(t)})


def _tensors(graph) -> Iterator:
    """Every tensor a graph holds: initializers and node attributes, subgraphs included."""
    yield from graph.initializer
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            for sub in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                yield from _tensors(sub)


def combined_sha256(model_sha: str, companions: dict[str, str]) -> str:
    """The model's identity: its own sha256, or a digest over it and its companions'."""
    if not companions:
        return model_sha
    text = "\n".join([f"model {model_sha}", *(f"{name} {companions[name]}" for name in sorted(companions))])
    return hashlib.sha256(text.encode()).hexdigest()


def describe(path: Path) -> tuple[str, dict[str, str]]:
    """(identity sha256, {companion name: sha256}) of the model at `path`."""
    path = Path(path)
    companions = {name: sha256_file(path.parent / name) for name in companion_names(path)}
    return combined_sha256(sha256_file(path), companions), companions


def verify(path: Path, expected: str, companions: dict[str, str]) -> None:
    """Check the model and its companions on this device against what the orchestrator sent.

    Raises:
        InfraError: a file is missing or differs.
    """
    path = Path(path)
    if not path.is_file():
        raise InfraError(f"model file {path} is not on this device")
    for name in sorted(companions):
        if not (path.parent / name).is_file():
            raise InfraError(f"model companion {name} is not beside {path} on this device")
    got = combined_sha256(sha256_file(path),
                          {name: sha256_file(path.parent / name) for name in companions})
    if got != expected:
        raise InfraError(f"model file {path} does not match sha256 {expected[:12]}…")
