"""Judge one series of a nightly against its baseline: no I/O, the rule of results/compare.py
applied per metric, plus what the nightly adds: toolchain and device-state changes start a
new baseline, a short baseline is still being built, and a flagged metric needs a
confirmation re-run that agrees before it is a regression (or an improvement).

Series states, worst first: `regression`, `broken` (the job failed with a model-error),
`infra` (left unfinished by infrastructure failures), `unconfirmed` (flagged, the re-run
disagreed: noise), `improvement`, `change` (toolchain or device state changed: new baseline),
`new`/`baseline` (building the baseline), `unchanged`, `skipped` (the variant cannot run here).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agents.spec import JobSpec, RunResult
from results.baseline import describe_changes, device_state, reference_block, toolchain
from results.compare import (IMPROVEMENT, METRICS, REGRESSION, Decision, Rule, agrees,
                             applies, judge_samples, judge_values, run_values)
from results.verdicts import Member

STATES = ("regression", "broken", "infra", "unconfirmed", "improvement", "change", "new",
          "baseline", "unchanged", "skipped")
FLAGGED = (REGRESSION, IMPROVEMENT)


@dataclass
class SeriesNight:
    """One series in one nightly: tonight's job and run, the baseline, the decisions."""

    series: str
    title: str
    spec: JobSpec
    job_id: str
    rule: Rule
    metrics: tuple[str, ...]
    status: str = "unfinished"
    error: str | None = None
    run_id: int | None = None
    result: RunResult | None = None
    baseline: list[Member] = field(default_factory=list)
    change: str | None = None
    note: str = ""
    decisions: dict[str, Decision] = field(default_factory=dict)
    confirm_run_id: int | None = None
    confirm_result: RunResult | None = None
    confirm_error: str | None = None
    confirmed: dict[str, Decision] = field(default_factory=dict)
    verdicts: dict[str, str] = field(default_factory=dict)
    state: str = "unchanged"

    @property
    def candidates(self) -> list[str]:
        """Metrics the rule flagged tonight (before any confirmation)."""
        return [m for m, d in self.decisions.items() if d.verdict in FLAGGED]


def decide(rule: Rule, metrics: tuple[str, ...], result: RunResult, baseline: list[Member],
           only: list[str] | None = None) -> dict[str, Decision]:
    """The rule's decision for each metric measured by the run and its baseline."""
    values = run_values(result.metrics)
    out: dict[str, Decision] = {}
    scenario = result.job.scenario.name if result.job else "single-stream"
    for name in only or metrics:
        if not applies(name, scenario):
            continue
        metric, threshold = METRICS[name], rule.thresholds[name]
        if metric.kind == "samples":
            samples = result.latencies_ns()
            if samples.size == 0 or not baseline:
                continue
            out[name] = judge_samples(samples / 1e6, reference_block(baseline), threshold, rule.alpha,
                                      alpha_runs=rule.alpha_runs)
        elif values.get(metric.column) is not None:  # else not measured: nothing to judge
            base = [getattr(b, metric.column) for b in baseline]
            if any(v is not None for v in base):
                out[name] = judge_values(values[metric.column], base, metric, threshold, rule.alpha_runs)
    return out


def judge(night: SeriesNight) -> None:
    """Tonight's decisions and state, before any confirmation re-run."""
    if night.status != "ok" or night.result is None:
        night.state = {"model-error": "broken", "skipped": "skipped"}.get(night.status, "infra")
        return
    night.decisions = decide(night.rule, night.metrics, night.result, night.baseline)
    last = night.baseline[-1] if night.baseline else None
    if last is not None:
        night.change = _change_text(last, night.result, night.decisions)
        spec = night.result.job
        if spec is not None and last.model_sha256 != spec.model.sha256:
            night.note = f"model changed: sha256 {last.model_sha256[:12]} -> {spec.model.sha256[:12]}"
    if night.change:
        night.state = "change"
    elif len(night.baseline) < night.rule.min_runs:
        night.state = "new" if not night.baseline else "baseline"
    elif night.candidates:
        night.state = "candidate"
    else:
        night.state = "unchanged"
    night.verdicts = {m: _tonight(night, d) for m, d in night.decisions.items()}


def _tonight(night: SeriesNight, d: Decision) -> str:
    if night.state == "change":
        return "change"
    if night.state in ("new", "baseline"):
        return "baseline"
    return d.verdict


def _change_text(last: Member, result: RunResult, decisions: dict[str, Decision]) -> str | None:
    parts = []
    tool = describe_changes(last.toolchain, toolchain(result))
    if tool:
        parts.append("toolchain changed: " + ", ".join(tool))
    state = describe_changes(last.device_state, device_state(result))
    if state:
        parts.append("device state changed: " + ", ".join(state))
    if not parts:
        return None
    latency = decisions.get("latency")
    if latency is not None and latency.ratio is not None:
        parts.append(f"p50 {(latency.ratio - 1) * 100:+.1f} %")
    return ", ".join(parts)


def settle(night: SeriesNight, confirm: bool) -> None:
    """The final verdicts once the confirmation re-run (if any) is judged."""
    if night.state != "candidate":
        return
    for name in night.candidates:
        first = night.decisions[name]
        if not confirm:
            night.verdicts[name] = first.verdict
        elif name in night.confirmed and agrees(first, night.confirmed[name]):
            night.verdicts[name] = first.verdict
        else:
            night.verdicts[name] = "unconfirmed"
    found = set(night.verdicts.values())
    night.state = next((s for s in ("regression", "unconfirmed", "improvement") if s in found), "unchanged")
    if night.state != "regression" and night.confirm_error:
        night.note = (night.note + "; " if night.note else "") + f"confirmation re-run failed: {night.confirm_error}"


def member_flags(night: SeriesNight, after_regression: str) -> tuple[dict, dict]:
    """(`good`, `new_baseline`) of tonight's run and of its confirmation re-run."""
    stable = night.result is not None and fit_for_baseline(night.result.flags)
    if night.state == "change":
        tonight = {"good": stable, "new_baseline": True}
    elif night.state == "regression":
        accept = after_regression == "rebaseline"
        tonight = {"good": accept and stable, "new_baseline": accept}
    elif night.state == "improvement":
        tonight = {"good": stable, "new_baseline": True}
    elif night.state == "unconfirmed":
        tonight = {"good": False, "new_baseline": False}  # an outlier; its re-run joins instead
    else:
        tonight = {"good": stable and night.status == "ok", "new_baseline": False}
    again = {"good": night.state in ("unconfirmed", "improvement") or
             (night.state == "regression" and after_regression == "rebaseline"), "new_baseline": False}
    return tonight, again


def fit_for_baseline(flags: list[str]) -> bool:
    """Whether a run may join a baseline: a throttled run may not. A `noisy` run (latency CV
    above 0.3) may: on a microsecond model a few preempted samples raise the CV, while the
    rule reads medians and ranks, which they barely move."""
    return "throttled" not in (flags or [])

