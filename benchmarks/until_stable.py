"""How long `--until-stable 1%` takes to a ±1 % median, against a fixed 60 s run, per zoo model.

For each zoo model (batch 1), on one engine:

    bench run MODEL --engine E --threads N --until-stable 1% --max-duration F --json
    bench run MODEL --engine E --threads N --duration F --max-duration F --json    (fixed)

Reported per model: the adaptive run's `time_to_stable_s`, its achieved intervals (the median's
95 % CI half-width, %, from order statistics and across 0.1 s blocks; see agents/stopping.py), its query count against MLPerf's early-stopping minimum for p90 (64),
the fixed run's interval, how far the adaptive median is from the fixed run's median (which
the fixed run pins down more tightly; this includes the variation between two processes, which
no interval within one run can see), and how far the median of the fixed run's first N samples
(N = the adaptive run's count) is from its own median (the drift within one run). The two runs alternate order per model. A
shorter `--fixed` is for trial runs; the figure in docs/PERFORMANCE.md uses 60 s.

Reproduce, from the repository root:

    .venv/bin/python benchmarks/until_stable.py --fixed 60 --out build/perf/until_stable.json
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from _common import bench_run_cmd, bench_run_json, markdown_table, positive_float, positive_int, write_json
from agents.spec import decode_latencies
import zoo

TARGET_PCT = 1.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default=",".join(sorted(zoo.ZOO)), help="comma-separated zoo models (default: all)")
    p.add_argument("--engine", default="onnxruntime", help="engine (default: onnxruntime)")
    p.add_argument("--threads", type=positive_int, default=2, help="inference threads (default: 2)")
    p.add_argument("--fixed", type=positive_float, default=60.0,
                   help="length of the fixed run and cap of the adaptive one, s (default: 60)")
    p.add_argument("--out", type=Path, help="also write the results as JSON here")
    return p.parse_args(argv)


def run(model: Path, args: argparse.Namespace, db: Path, adaptive: bool) -> dict[str, Any]:
    """One `bench run`: adaptive (--until-stable 1%) or fixed (--duration F)."""
    extra = ["--max-duration", f"{args.fixed:g}", "--iterations", "1"]
    extra += ["--until-stable", f"{TARGET_PCT:g}%"] if adaptive else []
    duration = 0.5 if adaptive else args.fixed  # --duration is not a minimum with --until-stable
    r = bench_run_json(bench_run_cmd(model, args.engine, args.threads, duration, db, extra=extra), args.fixed)
    m = r["metrics"]
    return {"p50_ms": m["latency_p50_ms"], "ci_pct": m["median_ci95_pct"], "iterations": m["iterations"],
            "measure_s": m["measure_s"], "time_to_stable_s": m.get("time_to_stable_s"),
            "min_queries": m.get("early_stopping_min_queries"), "stopped_by": r["environment"]["stopped_by"],
            "blocks_ci_pct": m.get("median_blocks_ci95_pct"),
            "samples_ns": decode_latencies(r["latencies"])}


def head_median_diff_pct(samples_ns: np.ndarray, n: int) -> float:
    """How far the median of the first `n` samples is from the median of all (%): the drift
    within a run that stopping after `n` samples would have missed."""
    return float((np.median(samples_ns[:n]) / np.median(samples_ns) - 1) * 100)


def one_model(i: int, name: str, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    path = zoo.save(name, tmp / f"{name}.onnx", batch=1)
    order = [True, False] if i % 2 == 0 else [False, True]
    got = {("adaptive" if a else "fixed"): run(path, args, tmp / "bench.db", a) for a in order}
    a, f = got["adaptive"], got["fixed"]
    diff = (a["p50_ms"] / f["p50_ms"] - 1) * 100
    drift = head_median_diff_pct(f.pop("samples_ns"), a["iterations"])
    a.pop("samples_ns")
    print(f"{name}: stable to ±{a['ci_pct']:.2f} % after {a['measure_s']:.2f} s ({a['stopped_by']}), "
          f"fixed {f['measure_s']:.1f} s ±{f['ci_pct']:.2f} %, medians differ {diff:+.2f} % "
          f"(fixed run's first {a['iterations']} samples: {drift:+.2f} %)", flush=True)
    return {"model": name, "first": "adaptive" if order[0] else "fixed", **got, "median_diff_pct": diff,
            "fixed_head_diff_pct": drift}


def render(rows: list[dict[str, Any]], fixed_s: float) -> str:
    header = ["model", "time to ±1 % s", "stopped by", "queries (min)", "achieved ±% (order stat.)",
              "achieved ±% (blocks)",
              f"fixed {fixed_s:g} s ±%", "p50 ms adaptive", "p50 ms fixed", "median diff %",
              "fixed head diff %", "speed-up"]
    table = [[r["model"], r["adaptive"]["measure_s"], r["adaptive"]["stopped_by"],
              f"{r['adaptive']['iterations']} ({r['adaptive']['min_queries']})", r["adaptive"]["ci_pct"],
              r["adaptive"]["blocks_ci_pct"] if r["adaptive"]["blocks_ci_pct"] is not None else "-",
              r["fixed"]["ci_pct"], r["adaptive"]["p50_ms"], r["fixed"]["p50_ms"], r["median_diff_pct"],
              r["fixed_head_diff_pct"],
              f"{r['fixed']['measure_s'] / r['adaptive']['measure_s']:.0f}x"] for r in rows]
    return markdown_table(header, table)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        with tempfile.TemporaryDirectory(prefix="until-stable-") as tmp:
            rows = [one_model(i, name.strip(), args, Path(tmp))
                    for i, name in enumerate(args.models.split(",")) if name.strip()]
    except RuntimeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"\n## --until-stable {TARGET_PCT:g}% against a fixed {args.fixed:g} s run: {args.engine}, "
          f"{args.threads} threads\n")
    print(render(rows, args.fixed))
    write_json(args.out, {"engine": args.engine, "threads": args.threads, "fixed_s": args.fixed,
                          "target_pct": TARGET_PCT, "models": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
