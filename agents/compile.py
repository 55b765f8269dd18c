"""The content-addressed artifact cache around `Engine.compile`.

Key = sha256(model) + engine + engine version + precision + the options that change the
artifact + calibration-data hash + target (arch, device or GPU model). Each entry is a
directory holding the artifact's files and `artifact.json`. A compile writes into a private
temporary directory and renames it into place: two processes compiling the same key at once
both succeed, one rename wins, and no reader ever sees a half-written entry.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

from agents.engines.base import Artifact, Engine

META = "artifact.json"


def cache_root(configured: str | None = None) -> Path:
    """The cache directory: the job's `cache_dir`, else $BENCH_CACHE_DIR, else ~/.cache/benchlab."""
    root = configured or os.environ.get("BENCH_CACHE_DIR") or Path.home() / ".cache/benchlab/artifacts"
    return Path(root)


def cache_key(engine: Engine, model_sha256: str, precision: str, options: Any,
              calibration_sha256: str | None) -> tuple[str, dict[str, Any]]:
    """The artifact's key and the facts it was made from (stored beside the artifact)."""
    is_instance = dataclasses.is_dataclass(options) and not isinstance(options, type)
    opts = dataclasses.asdict(options) if is_instance else dict(options)
    facts = {"model_sha256": model_sha256, "engine": engine.name, "engine_version": engine.version(),
             "precision": precision, "options": {k: opts.get(k) for k in engine.compile_keys},
             "calibration_sha256": calibration_sha256 if precision == "int8" else None,
             "target": engine.target(options), "converter_revision": engine.converter_revision}
    digest = hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:32]
    return digest, facts


def compile_cached(engine: Engine, model_path: Path, model_sha256: str, precision: str,
                   options: Any, root: Path, calibration: Any,
                   calibration_sha256: str | None) -> Artifact:
    """The artifact for this variant: from the cache (`cache: hit`) or compiled now (`miss`).

    A variant whose artifact is the source model itself (a native fp32) is not cached
    (`cache: none`).
    """
    key, facts = cache_key(engine, model_sha256, precision, options, calibration_sha256)
    final = root / key
    if (final / META).is_file():
        return _load(final, "hit")
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".tmp-{key}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        t0 = time.perf_counter()
        artifact = engine.compile(model_path, precision, options, tmp, calibration)
        artifact.compile_s = time.perf_counter() - t0
        if not _inside(Path(artifact.path), tmp):
            return artifact  # the source model itself: nothing to keep
        _write_meta(tmp, artifact, facts)
        return _publish(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def evict(artifact: Artifact, root: Path) -> bool:
    """Remove the cache entry holding `artifact` (renamed aside first, so a concurrent reader
    sees the entry whole or not at all). Returns whether there was one."""
    root = Path(root)
    path = Path(artifact.path).resolve()
    try:
        key = path.relative_to(root.resolve()).parts[0]
    except (ValueError, IndexError):
        return False  # not in this cache (a source model)
    entry = root / key
    doomed = root / f".evicted-{key}-{uuid.uuid4().hex[:8]}"
    try:
        os.rename(entry, doomed)
    except OSError:
        return False  # already gone
    shutil.rmtree(doomed, ignore_errors=True)
    return True


def _publish(tmp: Path, final: Path) -> Artifact:
    try:
        os.rename(tmp, final)
    except OSError:
        if not (final / META).is_file():
            raise
        return _load(final, "miss")  # another process published the same key first
    return _load(final, "miss")


def _write_meta(directory: Path, artifact: Artifact, facts: dict[str, Any]) -> None:
    meta = dataclasses.asdict(artifact)
    meta["path"] = os.path.relpath(artifact.path, directory)
    meta["size_bytes"] = artifact.size_bytes or _size(Path(artifact.path))
    meta["key_facts"] = facts
    (directory / META).write_text(json.dumps(meta, indent=1, sort_keys=True))


def _load(directory: Path, cache: str) -> Artifact:
    meta = json.loads((directory / META).read_text())
    meta.pop("key_facts", None)
    meta["path"] = str(directory / meta["path"])
    meta["cache"] = cache
    if cache == "hit":
        meta["compile_s"] = 0.0  # nothing was compiled by this run
    return Artifact(**meta)


def _inside(path: Path, directory: Path) -> bool:
    try:
        path.resolve().relative_to(directory.resolve())
        return True
    except ValueError:
        return False


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.parent.rglob("*") if p.is_file() and p.name != META)
