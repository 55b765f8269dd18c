"""Terminal output: the live progress bar of a run and the tables of results."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from agents.spec import JobSpec, RunResult


def stdout_console() -> Console:
    """The console tables go to: full width in a terminal, 220 columns into a pipe or file."""
    import sys
    return Console() if sys.stdout.isatty() else Console(width=220)


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
        label = f"{spec.variant.engine} {spec.variant.precision}"
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


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def _status(r: RunResult) -> str:
    return "skipped" if r.status == "model-error" and r.error_type == "UnsupportedVariant" else r.status


def _sig(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def run_table(console: Console, results: list[RunResult]) -> None:
    """The table `bench run` ends with: one row per variant."""
    table = Table(title="benchlab results")
    for col in ("engine", "precision", "status", "p50 ms", "p99 ms", "throughput /s",
                "cold start ms", "compile s", "cache", "cosine", "top-1", "power W",
                "J/inference", "flags"):
        table.add_column(col, justify="left" if col in ("engine", "precision", "status", "cache", "flags") else "right")
    for r in results:
        m, v = r.metrics, r.job.variant if r.job else None
        table.add_row(v.engine if v else "?", v.precision if v else "?", _status(r),
                      _fmt(m.get("latency_p50_ms")), _fmt(m.get("latency_p99_ms")),
                      _fmt(m.get("throughput_ips"), 1), _fmt(m.get("cold_start_ms"), 1),
                      _fmt(m.get("compile_s"), 2), (r.environment.get("artifact") or {}).get("cache", "-"),
                      _fmt(m.get("accuracy_cosine_min"), 5), _fmt(m.get("accuracy_top1_agreement"), 3),
                      _fmt(m.get("power_avg_w"), 2), _sig(m.get("energy_per_inference_j")),
                      ",".join(r.flags))
    console.print(table)
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
