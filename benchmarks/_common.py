"""Helpers shared by the scripts in benchmarks/: running `bench run --json`, medians, tables.

Tools are found next to the running interpreter (`Path(sys.executable).parent`), so the scripts
measure the benchlab and OpenVINO of the virtual environment that runs them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any, Sequence

BIN = Path(sys.executable).parent


def bench_run_cmd(model: Path, engine: str, threads: int | None, duration_s: float, db: Path,
                  options: Sequence[str] = (), warmup_s: float | None = None,
                  extra: Sequence[str] = ()) -> list[str]:
    """The `bench run MODEL --json` command line for one engine (warm-up: bench's default;
    threads None: the engine's default). `extra` flags go before --duration."""
    cmd = [str(BIN / "bench"), "run", str(model), "--engine", engine]
    if threads is not None:
        cmd += ["--threads", str(threads)]
    for opt in options:
        cmd += ["--option", opt]
    if warmup_s is not None:
        cmd += ["--warmup", f"{warmup_s:g}"]
    return cmd + list(extra) + ["--duration", f"{duration_s:g}", "--json", "--db", str(db)]


def bench_run_json(cmd: list[str], duration_s: float) -> dict[str, Any]:
    """Run a `bench run ... --json` command line and return its one RunResult as a dict.

    Raises:
        RuntimeError: bench failed or the run's status is not ok, with its stderr / error.
    """
    proc = run_tool(cmd, timeout_s=4 * duration_s + 300)
    if proc.returncode != 0 and not proc.stdout.strip():
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.strip()[-2000:]}")
    result = json.loads(proc.stdout)[0]
    if result["status"] != "ok":
        raise RuntimeError(f"bench run: {result['status']}: {result.get('error')}")
    return result


def run_tool(cmd: list[str], timeout_s: float) -> subprocess.CompletedProcess:
    """Run a command, capturing its output.

    Raises:
        RuntimeError: it ran longer than `timeout_s` (it is killed).
    """
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{Path(cmd[0]).name} ran longer than {timeout_s:g} s and was "
                           f"killed: {' '.join(cmd)}") from None


def one_line_errors(measure: Any, args: argparse.Namespace) -> int:
    """Run `measure(args)`; a tool that failed or timed out is one `error:` line and exit 1."""
    try:
        return measure(args)
    except RuntimeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a number > 0."""
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def median(values: Sequence[float]) -> float:
    """The median of a non-empty sequence."""
    return float(statistics.median(values))


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured markdown table; floats are printed with 2 decimals."""
    def cell(v: Any) -> str:
        return f"{v:.2f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def write_json(path: Path | None, payload: dict[str, Any]) -> None:
    """Write `payload` as indented JSON to `path` (nothing when path is None)."""
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(payload, indent=1) + "\n")
        print(f"\nwrote {path}")
