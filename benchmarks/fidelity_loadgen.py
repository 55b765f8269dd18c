"""Fidelity of benchlab's single-stream p90 on ONNX Runtime against MLPerf LoadGen's SingleStream.

Measures one zoo model (default `resnet`, batch 1) two ways:

    bench run MODEL --engine onnxruntime --scenario single-stream --threads N --duration D --json
    LoadGen SingleStream, PerformanceOnly, min_duration D, driving benchlab's own ONNX Runtime
    session (agents.engines.onnxruntime.engine, threads N: the same SessionOptions) in a fresh process

LoadGen issues one query at a time; the SUT's issue callback runs `session.infer` on the
query's input set (8 distinct sets made by benchlab's own generator, as `bench run` rotates)
and completes the query at once. Each side warms up for 1 s first (bench's default; LoadGen has
no warm-up of its own, so the child runs the session for 1 s before StartTest).

Reported: benchlab's `latency_p90_ms` against LoadGen's "90.00 percentile latency (ns)", per
round and as a ratio of the medians over the rounds (target: within 3 %). On a VM where a process
sometimes lands in a faster mode for its whole life (docs/PERFORMANCE.md), two processes differ
by more than the harnesses do; so the LoadGen process also runs benchlab's harness
(`measure_single_stream`) on the same session, before or after LoadGen by round, and that
same-process ratio is reported beside the end-to-end one. Known difference by
construction: LoadGen times from its issue to QuerySamplesComplete, so its latency includes the
call from LoadGen's C++ thread into Python and back (a few microseconds a query); benchlab
times the engine call alone. The early-stopping p90 estimate and LoadGen's validity verdict are
kept in the JSON.

Needs `pip install benchlab[bench]` (mlcommons-loadgen). Reproduce, from the repository root:

    .venv/bin/python benchmarks/fidelity_loadgen.py --model resnet --threads 1 --duration 10 \
        --rounds 5 --out build/perf/fidelity_loadgen.json
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import (bench_run_cmd, bench_run_json, markdown_table, median, positive_float,
                     positive_int, run_tool, write_json)
import zoo

TARGET_PCT = 3.0
WARMUP_S = 1.0
_SUMMARY = {"p90_ns": r"90\.00 percentile latency \(ns\)\s*:\s*(\d+)",
            "p50_ns": r"50\.00 percentile latency \(ns\)\s*:\s*(\d+)",
            "mean_ns": r"Mean latency \(ns\)\s*:\s*(\d+)",
            "early_stopping_p90_ns": r"Early stopping 90(?:\.0)?th percentile estimate\s*:\s*(\d+)",
            "qps": r"QPS w/o loadgen overhead\s*:\s*([\d.]+)"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="resnet", choices=sorted(zoo.ZOO), help="zoo model, batch 1 (default: resnet)")
    p.add_argument("--threads", type=positive_int, default=1,
                   help="ONNX Runtime intra-op threads (default: 1: on 2 cores, LoadGen's issue and log threads need the other)")
    p.add_argument("--duration", type=positive_float, default=10.0, help="seconds per tool and round (default: 10)")
    p.add_argument("--rounds", type=positive_int, default=3, help="alternating rounds (default: 3)")
    p.add_argument("--out", type=Path, help="also write the results as JSON here")
    p.add_argument("--child", type=Path, help=argparse.SUPPRESS)  # run LoadGen on this model, print JSON
    p.add_argument("--harness-first", action="store_true", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def loadgen_child(model: Path, threads: int, duration_s: float, harness_first: bool) -> dict[str, Any]:
    """In a fresh process: benchlab's ORT session under LoadGen's SingleStream scenario, and
    benchlab's harness on the same session (order by `harness_first`), so that the comparison
    is also made free of the differences between two processes."""
    import mlperf_loadgen as lg

    from agents.engines import get_engine
    from agents.engines.base import Artifact
    from agents.inputs import make_input_sets

    engine = get_engine("onnxruntime")
    session = engine.load(Artifact(str(model), "fp32"), engine.options({"threads": threads}), {})
    shapes = {t.name: list(t.shape) for t in session.inputs}
    prepared = [session.prepare(f) for f in make_input_sets(session.inputs, shapes, {}, 8, 0)]
    expected_ns = _warm_up(session, prepared)

    def issue(queries):
        for q in queries:
            session.infer(prepared[q.index])
            lg.QuerySamplesComplete([lg.QuerySampleResponse(q.id, 0, 0)])

    def run_loadgen() -> dict[str, Any]:
        sut = lg.ConstructSUT(issue, lambda: None)
        qsl = lg.ConstructQSL(len(prepared), len(prepared), lambda s: None, lambda s: None)
        with tempfile.TemporaryDirectory(prefix="loadgen-") as out:
            lg.StartTestWithLogSettings(sut, qsl, _settings(duration_s, expected_ns), _log_settings(out))
            summary = (Path(out) / "mlperf_log_summary.txt").read_text()
        lg.DestroyQSL(qsl)
        lg.DestroySUT(sut)
        return {**parse_summary(summary), "valid": "Result is : VALID" in summary}

    legs = {"loadgen": run_loadgen, "harness": lambda: _harness(session, prepared, duration_s)}
    order = ["harness", "loadgen"] if harness_first else ["loadgen", "harness"]
    got = {name: legs[name]() for name in order}
    return {**got["loadgen"], "same_process_harness_p90_ns": got["harness"]}


def _harness(session: Any, prepared: list[Any], duration_s: float) -> float:
    """benchlab's own single-stream loop on the same session in the same process: p90 (ns)."""
    import numpy as np

    from agents.harness import measure_single_stream
    from agents.spec import RunLength

    m = measure_single_stream(session, prepared, RunLength(min_iterations=100, min_duration_s=duration_s,
                                                           max_duration_s=4 * duration_s))
    return float(np.percentile(m.samples_ns, 90))


def _warm_up(session: Any, prepared: list[Any]) -> int:
    """WARMUP_S of back-to-back inferences; returns the mean latency (LoadGen's expectation)."""
    n, start = 0, time.perf_counter_ns()
    while time.perf_counter_ns() - start < WARMUP_S * 1e9 or n < 10:
        session.infer(prepared[n % len(prepared)])
        n += 1
    return (time.perf_counter_ns() - start) // n


def _settings(duration_s: float, expected_ns: int) -> Any:
    import mlperf_loadgen as lg

    s = lg.TestSettings()
    s.scenario, s.mode = lg.TestScenario.SingleStream, lg.TestMode.PerformanceOnly
    s.single_stream_expected_latency_ns = int(expected_ns)
    s.min_duration_ms, s.max_duration_ms = int(duration_s * 1000), int(duration_s * 1000 * 4)
    s.min_query_count = 100
    return s


def _log_settings(outdir: str) -> Any:
    import mlperf_loadgen as lg

    log = lg.LogSettings()
    log.log_output.outdir, log.log_output.copy_summary_to_stdout = outdir, False
    return log


def parse_summary(text: str) -> dict[str, float]:
    """The latency figures of mlperf_log_summary.txt (ns)."""
    found = {k: re.search(pattern, text) for k, pattern in _SUMMARY.items()}
    if found["p90_ns"] is None:
        raise RuntimeError(f"no 90th percentile in LoadGen's summary:\n{text[-2000:]}")
    return {k: float(m.group(1)) for k, m in found.items() if m}


def run_loadgen(model: Path, args: argparse.Namespace, harness_first: bool) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", str(model), "--threads", str(args.threads),
           "--duration", f"{args.duration:g}"] + (["--harness-first"] if harness_first else [])
    proc = run_tool(cmd, timeout_s=6 * args.duration + 300)
    if proc.returncode != 0:
        raise RuntimeError(f"LoadGen child exited {proc.returncode}: {proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_bench(model: Path, args: argparse.Namespace, db: Path) -> dict[str, Any]:
    cmd = bench_run_cmd(model, "onnxruntime", args.threads, args.duration, db, warmup_s=WARMUP_S,
                        extra=["--scenario", "single-stream"])
    m = bench_run_json(cmd, args.duration)["metrics"]
    return {"p90_ns": m["latency_p90_ms"] * 1e6, "p50_ns": m["latency_p50_ms"] * 1e6,
            "mean_ns": m["latency_mean_ms"] * 1e6, "iterations": m["iterations"]}


def one_round(i: int, model: Path, args: argparse.Namespace, db: Path) -> dict[str, Any]:
    runs = {"bench": lambda: run_bench(model, args, db),
            "loadgen": lambda: run_loadgen(model, args, harness_first=i % 2 == 1)}
    order = ["bench", "loadgen"] if i % 2 == 0 else ["loadgen", "bench"]
    got = {name: runs[name]() for name in order}
    ratio = got["bench"]["p90_ns"] / got["loadgen"]["p90_ns"]
    same = got["loadgen"]["same_process_harness_p90_ns"] / got["loadgen"]["p90_ns"]
    print(f"round {i + 1}: bench p90 {got['bench']['p90_ns'] / 1e3:.2f} us, LoadGen p90 "
          f"{got['loadgen']['p90_ns'] / 1e3:.2f} us, ratio {ratio:.4f}; same process: harness p90 "
          f"{got['loadgen']['same_process_harness_p90_ns'] / 1e3:.2f} us, ratio {same:.4f}", flush=True)
    return {"round": i + 1, "first": order[0], **got, "ratio": ratio, "same_process_ratio": same}


def summarize(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    bench, lg = median([r["bench"]["p90_ns"] for r in rounds]), median([r["loadgen"]["p90_ns"] for r in rounds])
    same = median([r["same_process_ratio"] for r in rounds])
    return {"bench_p90_us": bench / 1e3, "loadgen_p90_us": lg / 1e3, "ratio": bench / lg,
            "same_process_ratio": same, "same_process_within_target": abs(same - 1) * 100 <= TARGET_PCT,
            "within_target": abs(bench / lg - 1) * 100 <= TARGET_PCT, "target_pct": TARGET_PCT,
            "loadgen_valid": all(r["loadgen"]["valid"] for r in rounds)}


def render(rounds: list[dict[str, Any]], summary: dict[str, Any]) -> str:
    header = ["round", "first", "bench p90 us", "bench p50 us", "LoadGen p90 us", "LoadGen p50 us",
              "LoadGen early-stop p90 us", "p90 ratio", "same-process harness p90 us", "same-process ratio"]
    rows = [[r["round"], r["first"], r["bench"]["p90_ns"] / 1e3, r["bench"]["p50_ns"] / 1e3,
             r["loadgen"]["p90_ns"] / 1e3, r["loadgen"].get("p50_ns", 0) / 1e3,
             r["loadgen"].get("early_stopping_p90_ns", 0) / 1e3, f"{r['ratio']:.4f}",
             r["loadgen"]["same_process_harness_p90_ns"] / 1e3, f"{r['same_process_ratio']:.4f}"] for r in rounds]
    verdict = "within" if summary["within_target"] else "OUTSIDE"
    return "\n".join([markdown_table(header, rows), "",
                      f"ratio of median p90s (bench / LoadGen over {len(rounds)} rounds): {summary['ratio']:.4f} "
                      f"({(summary['ratio'] - 1) * 100:+.2f} %, {verdict} ±{TARGET_PCT:g} %); "
                      f"LoadGen runs {'all VALID' if summary['loadgen_valid'] else 'not all VALID'}",
                      f"same process (benchlab's harness and LoadGen on one session, one process): median "
                      f"ratio {summary['same_process_ratio']:.4f} ({(summary['same_process_ratio'] - 1) * 100:+.2f} %)"])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(loadgen_child(args.child, args.threads, args.duration, args.harness_first)))
        return 0
    try:
        with tempfile.TemporaryDirectory(prefix="fidelity-loadgen-") as tmp:
            model = zoo.save(args.model, Path(tmp) / f"{args.model}.onnx", batch=1)
            rounds = [one_round(i, model, args, Path(tmp) / "bench.db") for i in range(args.rounds)]
    except (RuntimeError, subprocess.SubprocessError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    summary = summarize(rounds)
    print(f"\n## LoadGen fidelity: {args.model}, batch 1, {args.threads} threads, {args.duration:g} s per run\n")
    print(render(rounds, summary))
    write_json(args.out, {"model": args.model, "threads": args.threads, "duration_s": args.duration,
                          "rounds": rounds, "summary": summary})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
