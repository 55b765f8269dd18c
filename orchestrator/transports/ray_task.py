"""What runs on a Ray node for one job: the model from the object store into the node's cache,
then the agent's `run_job` inside the Ray worker.

In the worker, not in a child process: Ray already isolates the worker (a crash or an OOM kill
comes back as WorkerCrashedError / OutOfMemoryError), and a warm worker skips the interpreter
and engine import a fresh process pays on every job. Imports only the agent, so a Ray board
needs benchlab's agent plus its engine and Ray, nothing of the database or the server.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from agents.spec import JobSpec


def node_cache() -> Path:
    """Where this node keeps models and artifacts: $BENCH_CACHE_DIR or ~/.cache/benchlab."""
    return Path(os.environ.get("BENCH_CACHE_DIR") or Path.home() / ".cache/benchlab")


def materialize(files: dict[str, tuple[str, str, bytes]]) -> dict[str, str]:
    """Write each shipped file into the node's content-addressed cache once.

    Args:
        files: orchestrator path -> (sha256, file name, bytes).
    Returns:
        orchestrator path -> path on this node.
    """
    out = {}
    for original, (sha, name, data) in files.items():
        target = node_cache() / "files" / sha / name
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.parent / f".{target.name}.{os.getpid()}"  # name may hold folders
            partial.write_bytes(data)
            os.replace(partial, target)
        out[original] = str(target)
    return out


def run_on_node(spec_json: str, files: dict[str, tuple[str, str, bytes]], progress: Any) -> str:
    """The body of the Ray task. Returns the RunResult as JSON."""
    from agents.runner import run_job

    spec = JobSpec.from_json(spec_json)
    paths = materialize(files)
    spec.model.path = paths[spec.model.path]
    spec.inputs.files = {k: paths[v] for k, v in spec.inputs.files.items()}
    if spec.inputs.npz:
        spec.inputs.npz = paths[spec.inputs.npz]
    calib = spec.calibration.path
    if calib:  # a file, or a folder shipped file by file
        inside = [v for k, v in paths.items() if k.startswith(calib.rstrip("/") + "/")]
        spec.calibration.path = paths.get(calib) or str(Path(inside[0]).parent)
    spec.cache_dir = str(node_cache() / "artifacts")

    def forward(phase: str, fraction: float, iterations: int) -> None:
        if progress is not None:
            try:
                progress.put_nowait((phase, fraction, iterations))
            except Exception:
                pass  # a full or gone queue costs progress lines, never the job

    return run_job(spec, forward).to_json()
