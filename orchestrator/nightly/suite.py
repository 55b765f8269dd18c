"""A suite: a study kept in a YAML file and run again and again, plus how to judge it.

The file holds the study's keys (orchestrator/plan/studyfile.py; `priority` defaults to nightly) and
these, every one checked like the study's (unknown keys refused with the file and line):

    baseline: {runs: 10, min_runs: 5, after_regression: alarm}
    thresholds: {latency: 5%, throughput: 5%, energy: 5%, memory: 10%, accuracy: 0.01}
    metrics: [latency, throughput, energy, memory, accuracy]   # judged when measured
    alpha: 0.001          # latency's second gate: sign test of tonight's block medians
    alpha_runs: 0.01      # the baseline runs' prediction interval (every metric, run level)
    confirm: true         # re-run a flagged job through the queue before reporting it
    deadline_s: 21600     # jobs not finished by then are cancelled (exit 2)
    series:               # per-series overrides; match keys take shell globs
      - match: {engine: openvino, model: "bert*"}
        thresholds: {latency: 8%}
        metrics: [latency]

`after_regression: alarm` keeps a confirmed regression out of the baseline, so it is
reported every night until fixed; `rebaseline` accepts it as the new normal after one report.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.spec import JobSpec
from inventory import fields as F
from inventory.yamlsrc import LMap, Where, load_yaml
from orchestrator.plan.study import Study
from orchestrator.plan.studyfile import study_from
from results.compare import METRICS, Rule

NIGHTLY_KEYS = ("baseline", "thresholds", "metrics", "alpha", "alpha_runs", "confirm",
                "deadline_s", "series")
_BASELINE_KEYS = ("runs", "min_runs", "after_regression")
_MATCH_KEYS = ("model", "device", "engine", "precision", "scenario", "batch")
AFTER_REGRESSION = ("alarm", "rebaseline")


@dataclass
class SeriesRule:
    """Overrides for the series a `match` selects (every given key must match)."""

    match: dict[str, str]
    thresholds: dict[str, float] = field(default_factory=dict)
    metrics: tuple[str, ...] | None = None

    def matches(self, spec: JobSpec) -> bool:
        """Whether this rule applies to a job's series."""
        have = {"model": spec.model.name or "", "device": spec.device, "engine": spec.variant.engine,
                "precision": spec.variant.precision, "scenario": spec.scenario.name,
                "batch": str(spec.scenario.batch)}
        return all(fnmatch.fnmatchcase(have[k], v) for k, v in self.match.items())


@dataclass
class Suite:
    """A suite file: its study and how its series are judged."""

    name: str
    path: Path
    study: Study
    rule: Rule = field(default_factory=Rule)
    runs: int = 10
    after_regression: str = "alarm"
    metrics: tuple[str, ...] = tuple(METRICS)
    confirm: bool = True
    deadline_s: float = 6 * 3600.0
    series: list[SeriesRule] = field(default_factory=list)

    def rule_for(self, spec: JobSpec) -> tuple[Rule, tuple[str, ...]]:
        """The rule and metrics of one series: the suite's, with the matching overrides
        applied in file order."""
        rule, metrics = self.rule, self.metrics
        for over in self.series:
            if over.matches(spec):
                rule = rule.with_thresholds(over.thresholds)
                metrics = over.metrics or metrics
        return rule, metrics


def load_suite(path: Path) -> Suite:
    """Read a suite file.

    Raises:
        InventoryError: bad YAML, an unknown key or a bad value, with the file and line.
    """
    path = Path(path)
    where = Where(str(path), 1)
    data = F.mapping(load_yaml(path), where)
    study_keys = _subset(data, [k for k in data if k not in NIGHTLY_KEYS])
    study = study_from(study_keys, path)

    def w(key: str) -> Where:
        return where.at(data.line_of(key), field=key)

    base = F.mapping(data.get("baseline"), w("baseline"))
    F.check_keys(base, _BASELINE_KEYS, w("baseline"), "baseline")
    runs = F.integer(base.get("runs", 10), w("baseline").at(field="runs"), 1, optional=False)
    min_runs = F.integer(base.get("min_runs", min(5, runs)), w("baseline").at(field="min_runs"), 1, optional=False)
    if min_runs > runs:
        raise w("baseline").at(field="min_runs").error(f"must be <= runs ({runs}), got {min_runs}")
    after = F.string(base.get("after_regression", "alarm"), w("baseline").at(field="after_regression"))
    if after not in AFTER_REGRESSION:
        raise w("baseline").at(field="after_regression").error(
            f"unknown value '{after}'; known: {', '.join(AFTER_REGRESSION)}")
    rule = Rule(alpha=_level(data.get("alpha", 0.001), w("alpha")),
                alpha_runs=_level(data.get("alpha_runs", 0.01), w("alpha_runs")), min_runs=min_runs)
    rule = rule.with_thresholds(_thresholds(data.get("thresholds"), w("thresholds")))
    confirm = data.get("confirm", True)
    if not isinstance(confirm, bool):
        raise w("confirm").error(f"expected true or false, got {confirm!r}")
    return Suite(name=study.name or path.stem, path=path, study=study, rule=rule, runs=runs,
                 after_regression=after, confirm=confirm,
                 metrics=_metrics(data.get("metrics"), w("metrics")) or tuple(METRICS),
                 deadline_s=F.number(data.get("deadline_s", 6 * 3600.0), w("deadline_s"), 1, optional=False),
                 series=[_series_rule(v, w("series")) for v in _items(data.get("series"), w("series"))])


def _subset(data: LMap, keys: list[str]) -> LMap:
    out = LMap({k: data[k] for k in keys})
    out.line, out.key_lines = data.line, {k: data.line_of(k) for k in keys}
    return out


def _items(value: Any, where: Where) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise where.error("expected a list of {match: ..., thresholds: ...} entries")
    return value


def _level(value: Any, where: Where) -> float:
    level = F.number(value, where, optional=False)
    if not 0 < level < 1:
        raise where.error(f"a significance level is in (0, 1), got {level:g}")
    return level


def _thresholds(value: Any, where: Where) -> dict[str, float]:
    data = F.mapping(value, where)
    F.check_keys(data, METRICS, where, "thresholds")
    return {k: _threshold(k, v, where.at(data.line_of(k), field=k)) for k, v in data.items()}


def _threshold(metric: str, value: Any, where: Where) -> float:
    """`5%` or a fraction (0.05); a relative threshold above 1 is refused with a hint."""
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            number = float(value.strip()[:-1]) / 100
        except ValueError:
            raise where.error(f"expected a percentage like 5% or a fraction like 0.05, got {value!r}") from None
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        raise where.error(f"expected a percentage like 5% or a fraction like 0.05, got {value!r}")
    else:
        number = float(value)
    if number <= 0:
        raise where.error(f"must be > 0, got {value!r}")
    if METRICS[metric].relative and number >= 1 and not isinstance(value, str):
        raise where.error(f"{value!r} would be {number * 100:g} %; write '{value:g}%' for {value:g} %, "
                          f"or a fraction like 0.05")
    return number


def _metrics(value: Any, where: Where) -> tuple[str, ...]:
    names = F.strings(value, where)
    for name in names:
        if name not in METRICS:
            raise where.error(f"unknown metric '{name}'; known: {', '.join(METRICS)}")
    return names


def _series_rule(value: Any, where: Where) -> SeriesRule:
    if not isinstance(value, LMap):
        raise where.error("expected a mapping {match: ..., thresholds: ..., metrics: ...}")
    where = where.at(value.line)
    F.check_keys(value, ("match", "thresholds", "metrics"), where, "a series rule")
    match = F.mapping(value.get("match"), where.at(field="match"))
    F.check_keys(match, _MATCH_KEYS, where.at(field="match"), "match")
    if not match:
        raise where.at(field="match").error(f"needs at least one of {', '.join(_MATCH_KEYS)}")
    return SeriesRule(match={k: F.string(v, where.at(match.line_of(k), field=f"match.{k}")) for k, v in match.items()},
                      thresholds=_thresholds(value.get("thresholds"), where.at(field="thresholds")),
                      metrics=_metrics(value.get("metrics"), where.at(field="metrics")) or None)
