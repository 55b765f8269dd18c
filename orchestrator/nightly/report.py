"""The three outputs of a nightly: a markdown summary, a JUnit XML file (one testcase per
series: a failure for a regression, an error for a job that failed, skipped while the baseline
is being built) and the suite's trend page."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine

from agents.errors import BenchError
from orchestrator.nightly.judge import STATES, SeriesNight
from results.compare import METRICS, Decision

if TYPE_CHECKING:
    from orchestrator.nightly.run import NightlyResult

EXIT_MEANING = {0: "clean", 1: "regression found", 2: "jobs left unfinished by infrastructure failures"}
_SECTIONS = (("regression", "Regressions (confirmed by a re-run)"),
             ("broken", "Broken (the job failed with a model-error)"),
             ("infra", "Unfinished (infrastructure failures)"),
             ("unconfirmed", "Unconfirmed (flagged, but the re-run disagreed: noise, not reported as a regression)"),
             ("improvement", "Improvements (confirmed by a re-run; a new baseline starts)"),
             ("change", "Toolchain or device changes (a new baseline starts)"),
             ("new", "New series (building the baseline)"),
             ("baseline", "Building the baseline"),
             ("skipped", "Skipped (the variant cannot run here)"))


def change_text(d: Decision) -> str:
    """`+10.3 %` for a relative metric, `-0.0120` for an absolute one (accuracy)."""
    if d.ratio is None:
        return "-"
    return f"{(d.ratio - 1) * 100:+.1f} %" if METRICS[d.metric].relative else f"{d.ratio:+.4f}"


def interval_text(d: Decision) -> str:
    """The interval that decided (the baseline runs' prediction interval moved onto tonight's
    change, at `d.level`), in the same unit as `change_text`."""
    if d.low is None or d.high is None:
        return "-"
    if METRICS[d.metric].relative:
        return f"[{(d.low - 1) * 100:+.1f}, {(d.high - 1) * 100:+.1f}] %"
    return f"[{d.low:+.4f}, {d.high:+.4f}]"


def p_text(p: float) -> str:
    """A p-value in two digits; one below the smallest double is `<1e-300`, not 0."""
    return "<1e-300" if p < 1e-300 else f"{p:.2g}"


def _threshold(d: Decision) -> str:
    if d.threshold is None:
        return "-"
    return f"{d.threshold * 100:g} %" if METRICS[d.metric].relative else f"{d.threshold:g}"


def describe(night: SeriesNight, metric: str | None = None) -> str:
    """One line about a series (or one of its metrics) for reports and verdict rows."""
    if metric is None:
        text = {"broken": f"model-error: {night.error}", "skipped": f"skipped: {night.error}",
                "infra": f"unfinished: {night.error}",
                "new": f"new series: building the baseline (0 of {night.rule.min_runs} runs)",
                "baseline": f"building the baseline ({len(night.baseline)} of {night.rule.min_runs} runs)",
                }.get(night.state, night.state)
        text = night.change or text
        return f"{text}; {night.note}" if night.note else text
    d = night.decisions[metric]
    p = f", p {p_text(d.p_value)}" if d.p_value is not None else ""
    blocks = f"; {d.note}" if METRICS[metric].kind == "samples" and d.note else ""
    line = (f"{metric} {change_text(d)} ({d.level * 100:g} % interval {interval_text(d)}{p}, threshold "
            f"{_threshold(d)}, {d.n_baseline_runs} baseline runs{blocks})")
    verdict = night.verdicts.get(metric)
    again = night.confirmed.get(metric)
    if again is not None:
        line += f"; re-run {change_text(again)}" + (f", p {p_text(again.p_value)}" if again.p_value is not None else "")
        line += ": confirmed" if verdict in ("regression", "improvement") else ": not confirmed"
    elif verdict == "unconfirmed":
        line += f"; not confirmed ({night.confirm_error or 're-run missing'})"
    return f"{night.change}; {line}" if night.change else line


def markdown(result: NightlyResult) -> str:
    """The summary: counts, one section per kind of finding, and every series' numbers."""
    counts = result.counts()
    headline = ", ".join(f"{counts[s]} {s}" for s in STATES if counts.get(s))
    lines = [f"# Nightly `{result.suite.name}`: {EXIT_MEANING[result.exit_code]}", "",
             f"- nightly `{result.nightly_id}`, study `{result.study_id}`"
             + (f", confirmation re-runs in study `{result.confirm_study_id}`" if result.confirm_study_id else ""),
             f"- finished {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC; exit code "
             f"{result.exit_code} ({EXIT_MEANING[result.exit_code]})",
             f"- {len(result.nights)} series: {headline or 'none'}",
             f"- rule: a regression needs tonight's run (latency: its median) outside the baseline "
             f"runs' {(1 - result.suite.rule.alpha_runs) * 100:g} % prediction interval AND past the "
             f"threshold (latency also: its block medians on that side, sign test p < "
             f"{result.suite.rule.alpha:g}) AND a confirmation re-run that agrees; baseline: the last "
             f"{result.suite.runs} good runs (judged from {result.suite.rule.min_runs})", ""]
    for state, title in _SECTIONS:
        chosen = [n for n in result.nights if n.state == state]
        if chosen:
            lines += [f"## {title}", ""]
            lines += [f"- **{n.title}**: {findings(n)}" for n in chosen]
            lines.append("")
    level = (1 - result.suite.rule.alpha_runs) * 100
    lines += ["## Every series", "", "| series | state | metric | baseline runs | baseline | tonight | "
              f"change | {level:g} % interval | p | re-run | verdict |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for n in result.nights:
        lines += _table_rows(n)
    lines += ["", *[f"- {k}: `{v}`" for k, v in result.outputs.items()], *result.notes, ""]
    return "\n".join(lines)


def findings(n: SeriesNight) -> str:
    """What to say about a series: its flagged metrics, else its state."""
    flagged = [m for m, v in n.verdicts.items() if v in ("regression", "improvement", "unconfirmed")]
    if flagged:
        text = "; ".join(describe(n, m) for m in flagged)
        return f"{text}; {n.note}" if n.note else text
    return describe(n)


def _table_rows(n: SeriesNight) -> list[str]:
    if not n.decisions:
        return [f"| {n.title} | {n.state} | - | {len(n.baseline)} | - | - | - | - | - | - | {describe(n)} |"]
    rows = []
    for m, d in n.decisions.items():
        again = n.confirmed.get(m)
        rows.append(f"| {n.title} | {n.state} | {m} | {d.n_baseline_runs} | {_num(d.baseline)} | {_num(d.value)} | "
                    f"{change_text(d)} | {interval_text(d)} | "
                    f"{'-' if d.p_value is None else p_text(d.p_value)} | "
                    f"{change_text(again) if again else '-'} | {n.verdicts.get(m, d.verdict)} |")
    return rows


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def junit(result: NightlyResult) -> ET.ElementTree:
    """One testcase per series; failure = regression, error = broken or unfinished,
    skipped = baseline still being built or variant not runnable here."""
    counts = result.counts()
    suite = ET.Element("testsuite", name=f"nightly {result.suite.name}", tests=str(len(result.nights)),
                       failures=str(counts.get("regression", 0)),
                       errors=str(counts.get("broken", 0) + counts.get("infra", 0)),
                       skipped=str(sum(counts.get(s, 0) for s in ("new", "baseline", "skipped"))))
    for n in result.nights:
        case = ET.SubElement(suite, "testcase", classname=f"{result.suite.name}.{n.spec.device}",
                             name=n.title)
        text = findings(n)
        if n.state == "regression":
            ET.SubElement(case, "failure", message=text, type="regression").text = _details(n)
        elif n.state in ("broken", "infra"):
            ET.SubElement(case, "error", message=text, type=n.state).text = n.error or ""
        elif n.state in ("new", "baseline", "skipped"):
            ET.SubElement(case, "skipped", message=text)
        else:
            ET.SubElement(case, "system-out").text = _details(n)
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return ET.ElementTree(root)


def _details(n: SeriesNight) -> str:
    lines = [f"{n.state}: {describe(n)}" if not n.decisions else
             f"{n.state}" + (f": {n.change or n.note}" if n.change or n.note else "")]
    lines += [describe(n, m).removeprefix(f"{n.change}; " if n.change else "") for m in n.decisions]
    return "\n".join(lines)


def write_outputs(result: NightlyResult, engine: Engine, out_dir: Path) -> None:
    """Write summary.md, junit.xml and trend.html into `out_dir`; their paths go to
    `result.outputs`. A dashboard that cannot be built is a note in the summary, not a failure."""
    out_dir.mkdir(parents=True, exist_ok=True)
    trend = out_dir / "trend.html"
    try:
        from orchestrator.dashboard import DashboardRequest, write
        write(DashboardRequest(output=trend, suite=result.suite.name,
                               db=engine.url.render_as_string(hide_password=False)))
        result.outputs["dashboard"] = str(trend)
    except BenchError as e:
        result.notes.append(f"- dashboard not written: {e}")
    result.outputs["junit"] = str(out_dir / "junit.xml")
    result.outputs["summary"] = str(out_dir / "summary.md")
    junit(result).write(out_dir / "junit.xml", encoding="utf-8", xml_declaration=True)
    (out_dir / "summary.md").write_text(markdown(result), encoding="utf-8")
