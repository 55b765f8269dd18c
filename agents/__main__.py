"""The agent's only remote entry point.

    python -m agents run job.json [--progress]   # or `run -` to read the JobSpec from stdin
    python -m agents probe

`run` prints the RunResult as one JSON line on stdout and exits 0 whenever it produced one,
whatever the run's status; `--progress` writes JSON lines to stderr while it works. Exit 2
means the JobSpec itself could not be read.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from agents import probe
from agents.runner import run_job
from agents.spec import JobSpec


def _progress_writer(stream):
    last = [0.0]

    def write(phase: str, fraction: float, iterations: int) -> None:
        now = time.monotonic()
        # Phase changes always go out; in-phase updates at most 10 per second.
        if fraction not in (0.0, 1.0) and now - last[0] < 0.1:
            return
        last[0] = now
        stream.write(json.dumps({"progress": phase, "fraction": round(fraction, 4),
                                 "iterations": iterations}) + "\n")
        stream.flush()

    return write


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run the verb; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="python -m agents")
    sub = parser.add_subparsers(dest="verb", required=True)
    run = sub.add_parser("run", help="run one JobSpec, print its RunResult JSON")
    run.add_argument("job", help="JobSpec JSON file, or - for stdin")
    run.add_argument("--progress", action="store_true", help="JSON-lines progress on stderr")
    sub.add_parser("probe", help="print what this board is and has, as JSON")
    args = parser.parse_args(argv)
    if args.verb == "probe":
        from agents.power.discover import probe_sensors
        print(json.dumps({"environment": probe.environment(), "engines": probe.engines(),
                          "power_sensors": probe_sensors()}, default=str))
        return 0
    try:
        text = sys.stdin.read() if args.job == "-" else open(args.job).read()
        spec = JobSpec.from_json(text)
    except (OSError, ValueError) as e:
        print(f"agent: cannot read JobSpec: {e}", file=sys.stderr)
        return 2
    progress = _progress_writer(sys.stderr) if args.progress else None
    # Converters (NNCF, onnx2tf) and native libraries print to stdout; while the job runs,
    # fd 1 points at stderr so that stdout carries the RunResult alone.
    sys.stdout.flush()
    result_fd = os.dup(1)
    os.dup2(2, 1)
    try:
        result = run_job(spec, progress)
    finally:
        sys.stdout.flush()
        os.dup2(result_fd, 1)
        os.close(result_fd)
    print(result.to_json())
    return 0


if __name__ == "__main__":
    sys.exit(main())
