"""How good the nightly's alarms are, and how fast it compares (issue 8).

Quality, with real repeated runs on this machine. The zoo mlp (onnxruntime, one thread) and
two real variants that do more work (`bench zoo mlp --hidden W`: 1136 and 1080, chosen as ~10 %
and ~5 % slower on a quiet machine; how much slower they measure depends on the machine's load,
+4 % to +15 % for 1136 on the 2-core VM, so the script reports the true slowdown) are run in
rounds, one agent process per run through the local transport exactly as a
nightly's jobs are (base, slow-10, slow-5, base, ... so that drift of the machine hits all
three alike). Then each comparison k is what the nightly would decide on night k, with the
nightly's own code (orchestrator/nightly/judge.py: decide, confirm, settle):

- baseline: the 5 base runs before k (a rolling baseline, as consecutive nightlies share one;
  5 is the default `min_runs`, the fewest the rule judges from, so the widest prediction
  interval a nightly uses);
- tonight: base run k (A/A), or slow run k (detection);
- confirmation re-run: the next run of tonight's model.

Reported: per kind, how many comparisons the rule flagged, how many the re-run confirmed (a
confirmed regression in A/A is a false alarm; in the slow kinds a detection), and the true
slowdown of each variant (ratio of the medians of all its runs to the base runs').

Speed: a nightly of 5,000 series against 30-run baselines on a SQLite file, built directly
(5,000 tonight's runs with 1,000 raw samples each and a real RunResult's JSON; 150,000 baseline
series_run rows with their 64-point reference samples): the time of the nightly's compare
stage (collect tonight's runs, load the baselines, judge every series), and of storing the
verdicts.

Reproduce, from the repository root (about 10 minutes with the defaults):

    .venv/bin/python benchmarks/regression_quality.py --out build/perf/regression_quality.json
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import markdown_table, one_line_errors, positive_float, positive_int, write_json  # noqa: E402
from agents.runner import sha256_file  # noqa: E402
from agents.spec import JobSpec, ModelRef, RunLength, RunResult, Variant  # noqa: E402
import zoo  # noqa: E402
from orchestrator.nightly.judge import SeriesNight, decide, judge, settle  # noqa: E402
from orchestrator.nightly.run import member_row  # noqa: E402
from orchestrator.transports.local import LocalTransport  # noqa: E402
from results.compare import Rule  # noqa: E402
from results.verdicts import SeriesRun  # noqa: E402

BASELINE_RUNS = 5


def make_runs(args: argparse.Namespace, tmp: Path) -> dict[str, list[RunResult]]:
    """`rounds + BASELINE_RUNS + 1` real runs of each model, interleaved."""
    models = {"base": zoo.MLP_HIDDEN, "slow-10": args.slow10, "slow-5": args.slow5}
    specs = {}
    for kind, hidden in models.items():
        path = zoo.save("mlp", tmp / f"mlp-{hidden}.onnx", hidden=None if hidden == zoo.MLP_HIDDEN else hidden)
        specs[kind] = JobSpec(job_id="", model=ModelRef(str(path), sha256_file(path), name="mlp"),
                              variant=Variant("onnxruntime", options={"threads": 1}),
                              run=RunLength(warmup_s=args.warmup, min_duration_s=args.duration,
                                            min_iterations=200, max_duration_s=60, timeout_s=300),
                              accuracy_check=False)
    transport = LocalTransport()
    runs: dict[str, list[RunResult]] = {k: [] for k in models}
    total = args.rounds + BASELINE_RUNS + 1
    t0 = time.monotonic()
    for i in range(total):
        for kind, spec in specs.items():
            spec.job_id = uuid.uuid4().hex[:16]
            result = transport.run(spec)
            if result.status != "ok":
                raise RuntimeError(f"run {i} of {kind}: {result.status}: {result.error}")
            runs[kind].append(result)
        if (i + 1) % 10 == 0:
            print(f"  {i + 1}/{total} rounds of runs ({time.monotonic() - t0:.0f} s)", flush=True)
    return runs


def _member(result: RunResult, i: int) -> SeriesRun:
    night = SeriesNight("x", "mlp", result.job, result.job_id, Rule(), ("latency",))
    return SeriesRun(id=i, **member_row(night, result, i, "quality", "n", "night", 0.0))


def comparisons(runs: dict[str, list[RunResult]], rule: Rule) -> dict[str, dict[str, Any]]:
    """Every comparison of every kind, decided as the nightly decides (see the docstring)."""
    members = [_member(r, i) for i, r in enumerate(runs["base"])]
    out = {}
    for kind in runs:
        counts = {"flagged": 0, "regression": 0, "improvement": 0, "unconfirmed": 0, "ratios": []}
        for k in range(BASELINE_RUNS, len(runs[kind]) - 1):
            night = SeriesNight("x", "mlp", runs[kind][k].job, "j", rule, ("latency", "memory"),
                                status="ok", result=runs[kind][k],
                                baseline=members[k - BASELINE_RUNS:k])
            judge(night)
            counts["ratios"].append(night.decisions["latency"].ratio)
            if night.state == "candidate":
                counts["flagged"] += 1
                night.confirmed = decide(rule, night.metrics, runs[kind][k + 1], night.baseline,
                                         only=night.candidates)
            settle(night, confirm=True)
            if night.state in counts:
                counts[night.state] += 1
        counts["n"] = len(counts["ratios"])
        out[kind] = counts
    return out


def true_slowdown(runs: dict[str, list[RunResult]]) -> dict[str, float]:
    """Median of a model's run medians over the base model's."""
    med = {k: float(np.median([np.median(r.latencies_ns()) for r in v])) for k, v in runs.items()}
    return {k: med[k] / med["base"] for k in runs}


def quality(args: argparse.Namespace) -> dict[str, Any]:
    """The quality half: runs, comparisons, the table."""
    with tempfile.TemporaryDirectory() as tmp:
        runs = make_runs(args, Path(tmp))
    rule = Rule(thresholds={**Rule().thresholds, "latency": args.threshold})
    found = comparisons(runs, rule)
    truth = true_slowdown(runs)
    rows = []
    for kind, c in found.items():
        ratios = np.array(c["ratios"])
        rate = c["regression"] / c["n"]
        rows.append([kind, f"{(truth[kind] - 1) * 100:+.1f} %", c["n"], c["flagged"], c["regression"],
                     c["improvement"], c["unconfirmed"],
                     f"{rate * 100:.0f} %", f"{(ratios.min() - 1) * 100:+.1f} .. {(ratios.max() - 1) * 100:+.1f} %"])
    print(markdown_table(["runs of", "true slowdown", "comparisons", "flagged by the rule",
                          "confirmed regressions", "confirmed improvements", "unconfirmed",
                          "regression rate", "tonight/baseline p50 range"], rows))
    return {"slowdown": truth, "comparisons": {k: {kk: vv for kk, vv in v.items() if kk != "ratios"} |
                                               {"ratios": [float(x) for x in v["ratios"]]}
                                               for k, v in found.items()}}


def speed(args: argparse.Namespace) -> dict[str, Any]:
    """The speed half: build the database, then time the compare stage."""
    from compare_speed import build_db, time_compare
    with tempfile.TemporaryDirectory() as tmp:
        engine, suite, study = build_db(Path(tmp) / "bench.db", args.series, args.baseline_runs)
        timings = time_compare(engine, suite, study, args.repeat)
    print(markdown_table(["series", "baseline runs", "compare s (median of repeats)",
                          "CPU s (median)", "store verdicts s"],
                         [[args.series, args.baseline_runs, timings["compare_s"],
                           float(np.median(timings["cpu_s"])), timings["store_s"]]]))
    return timings


def measure(args: argparse.Namespace) -> int:
    """Run the requested halves, print, write the JSON."""
    payload: dict[str, Any] = {"args": vars(args) | {"out": str(args.out)}}
    if not args.skip_quality:
        payload["quality"] = quality(args)
    if not args.skip_speed:
        payload["speed"] = speed(args)
    write_json(args.out, payload)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=positive_int, default=50, help="comparisons per kind (>= 50 for the issue)")
    parser.add_argument("--duration", type=positive_float, default=1.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=positive_float, default=0.3, help="warm-up seconds per run")
    parser.add_argument("--slow10", type=positive_int, default=1136, help="hidden width of the ~10 %% slower mlp")
    parser.add_argument("--slow5", type=positive_int, default=1080, help="hidden width of the ~5 %% slower mlp")
    parser.add_argument("--threshold", type=positive_float, default=0.05, help="latency threshold (fraction)")
    parser.add_argument("--series", type=positive_int, default=5000, help="series of the speed half")
    parser.add_argument("--baseline-runs", type=positive_int, default=30, help="baseline runs per series")
    parser.add_argument("--repeat", type=positive_int, default=3, help="timed repeats of the compare stage")
    parser.add_argument("--skip-quality", action="store_true", help="only the speed half")
    parser.add_argument("--skip-speed", action="store_true", help="only the quality half")
    parser.add_argument("--out", type=Path, default=None, help="write the raw numbers as JSON here")
    return one_line_errors(measure, parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
