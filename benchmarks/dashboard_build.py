"""How long does the study page of a 10,000-run study take to build, how big is it, and how long
until Chromium has drawn it? Targets: build <= 5 s, file <= 15 MB.

How the 10,000 runs are made: `bench run` measures the zoo model `--model` for real on this
machine with onnxruntime and openvino (`--duration` seconds each, 1 thread, power read from a
hwmon tree written by this script, 7.5 W constant: this machine has no power sensor) into a
temporary SQLite database. Each of the remaining runs is a copy of one of those two RunResults
(alternately), given a new job id in the same study and:
- a device `board-00` .. `board-NN` (`--devices`, default 25) and a precision fp32/fp16/int8
  (label only; nothing was compiled), so the study has devices x 2 engines x 3 precisions cells;
- the real run's first `--samples` raw latencies (default 1000), multiplied by a device factor
  (0.5 to 3, fixed per device), a precision factor (1, 0.7, 0.5) and a per-run factor
  drawn from N(1, 0.03) (seed 0); the latency metrics are recomputed from these samples;
- power 3 to 30 W (fixed per device), hence energy per inference and inferences per joule;
- for fp16/int8, accuracy metrics (cosine 0.9999 / 0.995, max abs error 1e-3 / 2e-2).
They are stored through `results.ingest.ingest`, the path every real run takes. Then the page
is built in-process (`dashboards.build.study_html`, database read included, `--repeat` times,
median reported) and once through the CLI (`bench dashboard --study ID`, interpreter start
included), and opened in headless Chromium (`dashboards.browser`): the time from navigation
until every plotly figure is drawn.

Reproduce, from the repository root:

    .venv/bin/python benchmarks/dashboard_build.py --runs 10000 --repeat 3
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
from _common import BIN, markdown_table, positive_int, run_tool, write_json

from agents.spec import RunResult
import zoo
from results.db import open_db
from results.ingest import ingest
from results.queries import run_results

_PRECISION = {"fp32": (1.0, None), "fp16": (0.7, (0.9999, 1e-3)), "int8": (0.5, (0.995, 2e-2))}


def _hwmon_tree(root: Path) -> Path:
    dev = root / "sys/class/hwmon/hwmon0"
    dev.mkdir(parents=True)
    (dev / "name").write_text("ina226\n")
    (dev / "power1_input").write_text("7500000\n")
    return root


def measure_templates(tmp: Path, args) -> tuple[Path, list[RunResult]]:
    """Real runs of the model on both engines, stored in a fresh database."""
    db, model = tmp / "bench.db", zoo.save(args.model, tmp / f"{args.model}.onnx")
    cmd = [str(BIN / "bench"), "run", str(model), "-e", "onnxruntime,openvino", "--threads", "1",
           "--duration", f"{args.duration:g}", "--iterations", str(args.samples), "--warmup", "0.1",
           "--power", "hwmon", "--power-option", f"root={_hwmon_tree(tmp / 'fx')}",
           "--idle-power", "0", "--db", str(db)]
    proc = run_tool(cmd, timeout_s=600)
    if proc.returncode != 0:
        sys.exit(f"bench run failed: {proc.stderr.strip()[-2000:]}")
    return db, run_results(open_db(str(db)))


def _metrics(base: dict, samples_ns: np.ndarray, power_w: float, accuracy) -> dict:
    ms = samples_ns / 1e6
    q = np.percentile(ms, [50, 90, 95, 99, 99.9])
    mean = float(ms.mean())
    out = dict(base, latency_p50_ms=q[0], latency_p90_ms=q[1], latency_p95_ms=q[2],
               latency_p99_ms=q[3], latency_p999_ms=q[4], latency_mean_ms=mean,
               latency_std_ms=float(ms.std()), latency_cv=float(ms.std() / mean),
               latency_min_ms=float(ms.min()), latency_max_ms=float(ms.max()),
               throughput_ips=1000.0 / mean, iterations=int(ms.size), power_avg_w=power_w)
    out["energy_per_inference_j"] = power_w / out["throughput_ips"]
    out["inferences_per_j"] = 1.0 / out["energy_per_inference_j"]
    if accuracy:
        out.update(accuracy_cosine_min=accuracy[0], accuracy_max_abs_error=accuracy[1])
    return {k: float(v) if isinstance(v, np.floating) else v for k, v in out.items()}


def synthesize(template: RunResult, i: int, args, rng: np.random.Generator) -> RunResult:
    """Copy number `i` of a real run, varied as the module docstring says."""
    device = i % args.devices
    precision = list(_PRECISION)[(i // args.devices) % 3]
    factor, accuracy = _PRECISION[precision]
    scale = (0.5 + 2.5 * device / max(1, args.devices - 1)) * factor * rng.normal(1.0, 0.03)
    r = RunResult.from_dict(copy.deepcopy(template.to_dict()))
    r.job_id = r.job.job_id = uuid.uuid4().hex[:16]
    r.job.device, r.job.variant.precision = f"board-{device:02d}", precision
    samples = (template.latencies_ns()[: args.samples] * scale).astype(np.int64)
    r.set_latencies_ns(samples)
    r.metrics = _metrics(template.metrics, samples, 3.0 + 27.0 * device / max(1, args.devices - 1),
                         accuracy)
    return r


def fill(db: Path, templates: list[RunResult], args) -> str:
    """Ingest copies until the study holds `args.runs` runs; returns the study id."""
    engine, rng = open_db(str(db)), np.random.default_rng(0)
    start = time.perf_counter()
    for i in range(args.runs - len(templates)):
        ingest(engine, synthesize(templates[i % len(templates)], i, args, rng))
    print(f"ingested {args.runs - len(templates)} synthesized runs in "
          f"{time.perf_counter() - start:.1f} s", flush=True)
    return templates[0].job.study_id


def time_build(db: Path, study_id: str, out: Path, args) -> list[float]:
    """Seconds to build and write the study page in-process, `args.repeat` times."""
    from dashboards.build import study_html
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        out.write_text(study_html(open_db(str(db)), study_id, args.slo_p99_ms), encoding="utf-8")
        times.append(time.perf_counter() - start)
    return times


def time_cli(db: Path, study_id: str, out: Path, args) -> float:
    """Seconds of `bench dashboard --study ID` end to end."""
    start = time.perf_counter()
    proc = run_tool([str(BIN / "bench"), "dashboard", "--study", study_id, "--slo-p99-ms",
                     f"{args.slo_p99_ms:g}", "-o", str(out), "--db", str(db)], timeout_s=600)
    if proc.returncode != 0:
        sys.exit(f"bench dashboard failed: {proc.stderr.strip()}")
    return time.perf_counter() - start


def render(page: Path) -> dict:
    """Open the page in headless Chromium: seconds until every figure is drawn, and checks."""
    from dashboards.browser import Chromium
    with Chromium(timeout_s=120) as browser:
        report = browser.open(page, timeout_s=300)
        browser.screenshot(page.with_suffix(".png"))
    return {"render_s": report.render_s, "figures": len(report.figures),
            "empty_figures": len(report.empty_figures()), "js_errors": len(report.errors)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=positive_int, default=10_000)
    ap.add_argument("--devices", type=positive_int, default=25)
    ap.add_argument("--samples", type=positive_int, default=1000)
    ap.add_argument("--model", default="resnet")
    ap.add_argument("--duration", type=float, default=0.5)
    ap.add_argument("--repeat", type=positive_int, default=3)
    ap.add_argument("--slo-p99-ms", type=float, default=5.0)
    ap.add_argument("--keep", type=Path, help="copy the page (and its screenshot) here")
    ap.add_argument("--out", type=Path, help="write the numbers as JSON here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        db, templates = measure_templates(tmp, args)
        study_id = fill(db, templates, args)
        page = tmp / "study.html"
        builds = time_build(db, study_id, page, args)
        cli_s = time_cli(db, study_id, tmp / "cli.html", args)
        size_mb = page.stat().st_size / 1e6
        shown = render(page)
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            for f in (page, page.with_suffix(".png")):
                (args.keep / f.name).write_bytes(f.read_bytes())
    result = {"runs": args.runs, "devices": args.devices, "samples_per_run": args.samples,
              "build_s_median": statistics.median(builds), "build_s_all": builds,
              "cli_s": cli_s, "size_mb": size_mb, **shown}
    print(markdown_table(["runs", "build s (median)", "bench dashboard s", "size MB",
                          "Chromium render s", "figures", "empty", "JS errors"],
                         [[args.runs, result["build_s_median"], cli_s, size_mb,
                           shown["render_s"], shown["figures"], shown["empty_figures"],
                           shown["js_errors"]]]))
    write_json(args.out, result)


if __name__ == "__main__":
    main()
