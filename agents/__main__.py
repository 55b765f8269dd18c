"""The agent's only remote entry point.

    python -m agents run job.json [--progress]   # or `run -` to read the JobSpec from stdin
    python -m agents probe

`run` prints the RunResult as one JSON line on stdout and exits 0 whenever it produced one,
whatever the run's status; `--progress` writes JSON lines to stderr while it works. Exit 2
means the JobSpec itself could not be read, or this Python is older than the agent needs.
`probe` needs neither numpy nor any SDK: it says which are missing.

This file is read by whatever python3 a board has, so it stays parseable by Python 3.6 (no
`from __future__ import annotations`, no 3.8 syntax) until the version check below has run.
"""

import sys

if sys.version_info < (3, 8):  # before anything else: the rest of the agent needs 3.8
    sys.stderr.write("benchlab agent needs Python >= 3.8; this is %s %s\n"
                     % (sys.executable, ".".join(str(v) for v in sys.version_info[:3])))
    sys.exit(2)

import argparse  # noqa: E402  (after the version check, on purpose)
import json  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402
from typing import List, Optional  # noqa: E402


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


def main(argv: Optional[List[str]] = None) -> int:
    """Parse arguments and run the verb; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="python -m agents")
    sub = parser.add_subparsers(dest="verb", required=True)
    run = sub.add_parser("run", help="run one JobSpec, print its RunResult JSON")
    run.add_argument("job", help="JobSpec JSON file, or - for stdin")
    run.add_argument("--progress", action="store_true", help="JSON-lines progress on stderr")
    sub.add_parser("probe", help="print what this board is and has, as JSON")
    args = parser.parse_args(argv)
    if args.verb == "probe":
        print(json.dumps(probe_facts(), default=str))
        return 0
    return _run(args.job, args.progress)


def probe_facts() -> dict:
    """What `probe` prints: environment, numpy, engines (each SDK checked in a child), sensors."""
    from agents import probe, sdkprobe
    from agents.power.discover import probe_sensors

    found = sdkprobe.survey()
    return {"environment": probe.environment(), "numpy": found["numpy"], "engines": found["engines"],
            "power_sensors": probe_sensors()}


def _run(job: str, progress_on: bool) -> int:
    try:
        from agents.runner import run_job
        from agents.spec import JobSpec
    except ImportError as e:  # numpy, which RunResult itself needs: one line, not a traceback
        print(f"agent: {sys.executable} (Python {sys.version.split()[0]}) cannot run jobs: {e}; "
              "install it: pip install numpy, or `bench fleet setup <device>`", file=sys.stderr)
        return 1
    try:
        text = sys.stdin.read() if job == "-" else open(job).read()
        spec = JobSpec.from_json(text)
    except (OSError, ValueError) as e:
        print(f"agent: cannot read JobSpec: {e}", file=sys.stderr)
        return 2
    progress = _progress_writer(sys.stderr) if progress_on else None
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
