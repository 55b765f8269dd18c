"""Terminal output: the live progress of a run (a line per job) and of a study (a line per
wait), and the table `bench run` ends with."""

from __future__ import annotations

from typing import Any, Callable

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from agents.scenarios import label as scenario_label
from agents.spec import JobSpec, RunResult


class JobProgress:
    """One progress line per job: its phase, the measured fraction and the iteration count."""

    def __init__(self, console: Console, enabled: bool = True):
        self._progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                  TextColumn("{task.fields[iterations]} it"), TimeElapsedColumn(),
                                  console=console, disable=not enabled, transient=False)
        self._tasks: dict[str, TaskID] = {}
        self._labels: dict[str, str] = {}

    def __enter__(self) -> JobProgress:
        self._progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._progress.__exit__(*exc)

    def track(self, spec: JobSpec):
        """A progress callback for one job, adding its line."""
        sc = spec.scenario
        label = (f"{spec.variant.engine} {spec.variant.precision} "
                 f"{scenario_label(sc.name, sc.batch, sc.concurrency, sc.target_qps, None, sc.find_peak)}")
        task = self._progress.add_task(f"{label}: queued", total=1.0, iterations=0)
        self._tasks[spec.job_id], self._labels[spec.job_id] = task, label

        def update(phase: str, fraction: float, iterations: int) -> None:
            done = fraction if phase == "measure" else (1.0 if phase == "done" else 0.0)
            self._progress.update(task, description=f"{label}: {phase}", completed=done,
                                  iterations=iterations)
        return update

    def finish(self, result: RunResult) -> None:
        """Mark a job's line with its final status."""
        task = self._tasks.get(result.job_id)
        if task is not None:
            self._progress.update(task, description=f"{self._labels[result.job_id]}: {_status(result)}",
                                  completed=1.0)


class StudyProgress:
    """A live progress line per wait on stderr (a study; then, for nightly, its confirmation
    re-runs): jobs finished of all, and the jobs per state. Call it with (label, total) to
    get the `on_step(counts)` callback of one wait."""

    def __init__(self, console: Console | None = None):
        self._console = console or Console(stderr=True)
        self._bars: list[Progress] = []

    def __call__(self, label: str, total: int) -> Callable[[dict[str, int]], None]:
        from orchestrator.execute.policy import STATES

        bar = Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                       console=self._console)
        task = bar.add_task(label, total=total)
        bar.start()
        self._bars.append(bar)

        def show(counts: dict[str, int]) -> None:
            finished = sum(counts.get(s, 0) for s in ("done", "failed", "cancelled"))
            text = ", ".join(f"{counts[s]} {s}" for s in STATES if counts.get(s))
            bar.update(task, completed=finished, description=f"{label}: {text}")
            if finished >= total:
                bar.stop()
        return show

    def close(self) -> None:
        """Stop every line (a wait cut short leaves its line unfinished)."""
        for bar in self._bars:
            bar.stop()

    def __enter__(self) -> StudyProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def _status(r: RunResult) -> str:
    return "skipped" if r.skipped else r.status


def _sig(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def scenario_of(r: RunResult) -> str:
    """The run's scenario label (`single-stream`, `offline b8 x4`, `server 200 qps x2` ...)."""
    label = (r.environment.get("scenario") or {}).get("label")
    if label:
        return label
    return r.job.scenario.name if r.job else "?"


def _under_load(r: RunResult) -> bool:
    return bool(r.job) and r.job.scenario.name != "single-stream"


def run_table(console: Console, results: list[RunResult]) -> None:
    """The table `bench run` ends with: one row per variant and scenario. A latency measured
    under load (offline, server) gets its own columns, never the single-stream ones."""
    loaded = any(_under_load(r) for r in results)
    table = Table(title="benchlab results")
    cols = ["engine", "precision", "scenario", "status", "p50 ms", "p99 ms"]
    cols += ["p50 ms (load)", "p99 ms (load)"] if loaded else []
    cols += ["throughput /s", "cold start ms", "compile s", "cache", "cosine", "top-1", "power W",
             "J/inference", "flags"]
    for col in cols:
        table.add_column(col, justify="left" if col in ("engine", "precision", "scenario", "status", "cache", "flags") else "right")
    for r in results:
        table.add_row(*_row(r, loaded))
    console.print(table)
    if loaded:
        console.print("(load): offline = each request's own latency with N requests in flight "
                      "(throughput mode); server = from the query's scheduled arrival, queueing "
                      "included. Neither is a single-stream latency.", highlight=False)
    for r in results:
        for line in scenario_notes(r):
            console.print(line, highlight=False, markup=False)
    for r in results:
        reason = (r.environment.get("power") or {}).get("reason")
        if r.status == "ok" and r.metrics.get("energy_j") is None and reason and "off" not in reason:
            console.print(f"{r.job.variant.engine}: no power figures: {reason}", highlight=False)
        label = f"{r.job.variant.engine} {r.job.variant.precision}" if r.job else r.job_id
        if r.error:
            console.print(f"[red]{label}: {_status(r)}:[/] {r.error}", highlight=False)
        if "accuracy-failed" in r.flags:
            console.print(f"[red]{label}: {r.environment['accuracy']['failed']}[/]", highlight=False)
        if "calibration-generated" in r.flags:
            console.print(f"[yellow]{label}: calibrated on generated data; its accuracy figures "
                          f"are not representative (pass --calibration, or --strict to refuse)[/]",
                          highlight=False)


def _row(r: RunResult, loaded: bool) -> list[str]:
    m, v = r.metrics, r.job.variant if r.job else None
    lat = [_fmt(m.get("latency_p50_ms")), _fmt(m.get("latency_p99_ms"))]
    lat = (["-", "-"] + lat if _under_load(r) else lat + ["-", "-"]) if loaded else lat
    return [v.engine if v else "?", v.precision if v else "?", scenario_of(r), _status(r), *lat,
            _fmt(m.get("throughput_ips"), 1), _fmt(m.get("cold_start_ms"), 1),
            _fmt(m.get("compile_s"), 2), (r.environment.get("artifact") or {}).get("cache", "-"),
            _fmt(m.get("accuracy_cosine_min"), 5), _fmt(m.get("accuracy_top1_agreement"), 3),
            _fmt(m.get("power_avg_w"), 2), _sig(m.get("energy_per_inference_j")), ",".join(r.flags)]


def scenario_notes(r: RunResult) -> list[str]:
    """What a scenario adds to the table: misses of the latency bound, the find-peak steps,
    how long --until-stable took."""
    if r.status != "ok" or r.job is None:
        return []
    m, sc, env = r.metrics, r.job.scenario, r.environment.get("scenario") or {}
    who = f"{r.job.variant.engine} {r.job.variant.precision} {scenario_of(r)}"
    lines = []
    if m.get("queries_missed") is not None:
        lines.append(f"{who}: {m['queries_missed']}/{m.get('iterations')} queries "
                     f"({m['queries_missed_pct']:.2f} %) over {m['latency_bound_ms']:g} ms")
    peak = env.get("find_peak")
    if peak:
        steps = "; ".join(f"{s['qps']:.4g} qps p99 {_fmt(s['p99_ms'])} ms {'ok' if s['passed'] else 'over'}"
                          for s in peak["steps"])
        found = f"{peak['peak_qps']:.4g} qps" if peak["peak_qps"] else "no rate met the bound"
        lines.append(f"{who}: find-peak: {found} (capacity {peak['capacity_qps']:.4g} qps, "
                     f"{'converged' if peak['converged'] else 'steps exhausted'}): {steps}")
    if sc.until_stable_pct is not None:
        ci = f"±{_fmt(m.get('median_ci95_pct'), 2)} %, across 0.1 s blocks ±{_fmt(m.get('median_blocks_ci95_pct'), 2)} %"
        if m.get("time_to_stable_s") is not None:
            lines.append(f"{who}: median stable ({ci}) after {m['time_to_stable_s']:.2f} s "
                         f"({m.get('iterations')} queries)")
        else:
            lines.append(f"{who}: not stable to ±{sc.until_stable_pct:g} % before the time limit "
                         f"({ci} after {_fmt(m.get('measure_s'), 2)} s)")
    return lines
