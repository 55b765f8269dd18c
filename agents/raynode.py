"""The bodies of the Ray transport's tasks: what runs on a Ray board for a job or a probe.

The board imports this module from the agent archive that each task's runtime_env carries
(`py_modules`), and the orchestrator's Ray pickles these functions by reference to
`agents.raynode`, so a Ray board needs `ray`, numpy and its engine SDK, nothing of benchlab
installed. Nothing here imports Ray: the progress queue Ray hands over is used through its
`put_nowait` alone.

A job runs in the Ray worker, not in a child process: Ray already isolates the worker (a crash
or an OOM kill comes back as WorkerCrashedError / OutOfMemoryError), and a warm worker skips the
interpreter and engine import a fresh process pays on every job.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from pathlib import Path
from typing import Any, Dict, Tuple

from agents.runner import run_job
from agents.spec import JobSpec

# orchestrator path -> (sha256, file name, bytes): every file a job needs, as the transport ships it.
# typing's generics: boards may run Python 3.8, where `dict[...]` outside an annotation fails.
Files = Dict[str, Tuple[str, str, bytes]]


def node_cache() -> Path:
    """Where this node keeps models and artifacts: $BENCH_CACHE_DIR or ~/.cache/benchlab."""
    return Path(os.environ.get("BENCH_CACHE_DIR") or Path.home() / ".cache/benchlab")


def materialize(files: Files) -> dict[str, str]:
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


def run_on_node(spec_json: str, files: Files, progress: Any) -> str:
    """Run one job on this node.

    Args:
        spec_json: the JobSpec as the orchestrator wrote it (its paths are the orchestrator's).
        files: the job's files, see `materialize`.
        progress: a queue with `put_nowait((phase, fraction, iterations))`, or None.
    Returns:
        The RunResult as JSON.
    """
    spec = JobSpec.from_json(spec_json)
    _localize(spec, materialize(files))

    def forward(phase: str, fraction: float, iterations: int) -> None:
        if progress is not None:
            try:
                progress.put_nowait((phase, fraction, iterations))
            except Exception:
                pass  # a full or gone queue costs progress lines, never the job

    return run_job(spec, forward).to_json()


def _localize(spec: JobSpec, paths: dict[str, str]) -> None:
    """Point the job at the node's copies of its files and at the node's artifact cache."""
    spec.model.path = paths[spec.model.path]
    spec.inputs.files = {k: paths[v] for k, v in spec.inputs.files.items()}
    if spec.inputs.npz:
        spec.inputs.npz = paths[spec.inputs.npz]
    calib = spec.calibration.path
    if calib:  # a file, or a folder shipped file by file
        inside = [v for k, v in paths.items() if k.startswith(calib.rstrip("/") + "/")]
        spec.calibration.path = paths.get(calib) or str(Path(inside[0]).parent)
    spec.cache_dir = str(node_cache() / "artifacts")


def probe() -> dict[str, Any]:
    """What this board is and has.

    Returns:
        The JSON that `python -m agents probe` prints, parsed: the agent's own probe verb runs
        here, so a Ray board reports exactly what a local or SSH board reports.
    """
    from agents.__main__ import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main(["probe"])
    return json.loads(out.getvalue().strip().splitlines()[-1])


def prepared() -> dict[str, Any]:
    """The probe plus `python`: the interpreter Ray runs this device's tasks with."""
    return {**probe(), "python": sys.executable}
